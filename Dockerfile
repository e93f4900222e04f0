# berth's image for people who have Docker: the same static binary, built
# with the same flags as `make image` (the Makefile's RELEASE_GOFLAGS and
# RELEASE_LDFLAGS; deploy/buildflags_test.go keeps them in step), on the
# distroless static base as its nonroot user. `make image` builds the same
# image without a Docker daemon.
#   docker build --build-arg VERSION=$(git describe --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) --build-arg DATE=$(date -u +%FT%TZ) -t berth .
ARG GO_VERSION=1.26.10

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" -o /out/berth ./cmd/berth \
    && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
COPY --from=build /out/berth /usr/local/bin/berth
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
VOLUME /data
EXPOSE 8080
ENV HOME=/data TZ=UTC
LABEL org.opencontainers.image.title="berth" \
      org.opencontainers.image.source="https://github.com/berthhq/berth" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="NOASSERTION"
ENTRYPOINT ["/usr/local/bin/berth"]
CMD ["serve", "--listen", ":8080", "--data-dir", "/data"]
