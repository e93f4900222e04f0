package deploy

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfileBuildsLikeMakeImage: the Dockerfile's go build uses exactly
// the Makefile's RELEASE_GOFLAGS and RELEASE_LDFLAGS (the ones `make image`,
// `make release` and `make package` pass), with CGO off; and its runtime
// stage runs as the same user, entrypoint and command as tools/image makes.
func TestDockerfileBuildsLikeMakeImage(t *testing.T) {
	t.Parallel()
	mk := readFile(t, "../Makefile")
	df := readFile(t, "../Dockerfile")
	img := readFile(t, "../tools/image/main.go")
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^(RELEASE_GOFLAGS|RELEASE_LDFLAGS)\s*:?=\s*(.+)$`).FindAllStringSubmatch(mk, -1) {
		// $(VERSION) in make is ${VERSION} in the Dockerfile.
		vars[m[1]] = regexp.MustCompile(`\$\((\w+)\)`).ReplaceAllString(strings.TrimSpace(m[2]), "$${$1}")
	}
	if vars["RELEASE_GOFLAGS"] == "" || !strings.Contains(vars["RELEASE_LDFLAGS"], "main.version=${VERSION}") {
		t.Fatalf("Makefile release flags: %v", vars)
	}
	want := "CGO_ENABLED=0 go build " + vars["RELEASE_GOFLAGS"] + ` -ldflags "` + vars["RELEASE_LDFLAGS"] + `" -o /out/berth ./cmd/berth`
	if !strings.Contains(df, "RUN "+want) {
		t.Errorf("the Dockerfile does not build with the Makefile's flags:\nwant RUN %s", want)
	}
	for _, target := range []string{"image:", "release:", "package:"} {
		body := makeTarget(mk, target)
		if !strings.Contains(body, "$(RELEASE_GOFLAGS)") || !strings.Contains(body, "$(RELEASE_LDFLAGS)") {
			t.Errorf("make %s does not pass RELEASE_GOFLAGS and RELEASE_LDFLAGS:\n%s", target, body)
		}
	}
	for _, pair := range [][2]string{
		{`USER 65532:65532`, `nonroot = 65532`},
		{`ENTRYPOINT ["/usr/local/bin/berth"]`, `binPath  = "/usr/local/bin/berth"`},
		{`CMD ["serve", "--listen", ":8080", "--data-dir", "/data"]`, `Cmd:          []string{"serve", "--listen", ":8080", "--data-dir", dataDir}`},
		{`VOLUME /data`, `dataDir  = "/data"`},
		{`FROM gcr.io/distroless/static-debian12:nonroot`, `CGO_ENABLED=0`},
	} {
		if !strings.Contains(df, pair[0]) || !strings.Contains(img, pair[1]) {
			t.Errorf("the Dockerfile (%q) and tools/image (%q) disagree", pair[0], pair[1])
		}
	}
}

// makeTarget returns the recipe lines of a Makefile target.
func makeTarget(mk, target string) string {
	i := strings.Index(mk, "\n"+target)
	if i < 0 {
		return ""
	}
	var b strings.Builder
	for _, l := range strings.Split(mk[i+1:], "\n")[1:] {
		if !strings.HasPrefix(l, "\t") {
			break
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path) // #nosec G304 -- a file of the repository
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}
