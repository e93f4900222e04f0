// Command image builds berth's OCI image without a Docker daemon (`make
// image`): berth cross-compiled with CGO off for linux/amd64 and
// linux/arm64, Debian's CA certificates and tzdata read from this machine's
// installed files, no shell, user 65532:65532, /data as a volume and the
// working directory, OCI labels; one index written as an OCI layout
// directory and as a tarball of it.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// UID and GID the image runs as (distroless's nonroot).
const nonroot = 65532

// Paths inside the image.
const (
	binPath  = "/usr/local/bin/berth"
	dataDir  = "/data"
	certFile = "/etc/ssl/certs/ca-certificates.crt"
	zoneDir  = "/usr/share/zoneinfo"
)

// Options is what one build needs.
type Options struct {
	Repo      string   // berth's checkout
	Out       string   // directory: oci/ (the layout) and berth-image.oci.tar
	GoFlags   []string // e.g. -trimpath, shared with the Dockerfile and make release
	LDFlags   string
	Version   string
	Revision  string
	License   string    // SPDX expression; NOASSERTION while the project declares none
	Created   time.Time // the layers' and config's time (the commit's, for reproducible images)
	Platforms []v1.Platform
	// Certs and Zoneinfo are read from the installed Debian packages
	// ca-certificates and tzdata.
	Certs, Zoneinfo string
}

func main() {
	o := Options{Certs: certFile, Zoneinfo: zoneDir,
		Platforms: []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}}
	var goflags, created string
	flag.StringVar(&o.Repo, "repo", "../..", "berth's checkout")
	flag.StringVar(&o.Out, "out", "../../bin/image", "output directory")
	flag.StringVar(&goflags, "goflags", "-trimpath", "go build flags (space-separated)")
	flag.StringVar(&o.LDFlags, "ldflags", "", "go build -ldflags")
	flag.StringVar(&o.Version, "version", "dev", "org.opencontainers.image.version")
	flag.StringVar(&o.Revision, "revision", "unknown", "org.opencontainers.image.revision")
	flag.StringVar(&o.License, "license", "NOASSERTION", "org.opencontainers.image.licenses (SPDX)")
	flag.StringVar(&created, "created", "", "RFC 3339 time of the image (default: now)")
	flag.Parse()
	o.GoFlags = strings.Fields(goflags)
	o.Created = time.Now().UTC().Truncate(time.Second)
	if created != "" {
		t, err := time.Parse(time.RFC3339, created)
		if err != nil {
			fail(fmt.Errorf("-created: %w", err))
		}
		o.Created = t.UTC()
	}
	if err := Build(o); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "image:", err)
	os.Exit(1)
}

// Build writes the image index of every platform.
func Build(o Options) error {
	base, err := baseLayer(o)
	if err != nil {
		return fmt.Errorf("base layer: %w", err)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range o.Platforms {
		img, err := platformImage(o, p, base)
		if err != nil {
			return fmt.Errorf("image for %s/%s: %w", p.OS, p.Architecture, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	dir := filepath.Join(o.Out, "oci")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("write layout %s: %w", dir, err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": o.Version,
	})); err != nil {
		return fmt.Errorf("write layout %s: %w", dir, err)
	}
	return tarDir(dir, filepath.Join(o.Out, "berth-image.oci.tar"), o.Created)
}

// platformImage cross-compiles berth for p and puts it over the base layer.
func platformImage(o Options, p v1.Platform, base v1.Layer) (v1.Image, error) {
	bin, err := compile(o, p)
	if err != nil {
		return nil, err
	}
	defer os.Remove(bin)
	raw, err := os.ReadFile(bin) // #nosec G304 -- the binary just built
	if err != nil {
		return nil, err
	}
	// Kept beside the image: the SBOM is read from its build information.
	if err := os.MkdirAll(o.Out, 0o750); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.Out, "berth-"+p.OS+"-"+p.Architecture), raw, 0o755); err != nil { // #nosec G306 G703 -- an executable in the output directory the caller chose
		return nil, err
	}
	app, err := layer(o.Created, []entry{{path: "/usr", dir: true}, {path: "/usr/local", dir: true},
		{path: "/usr/local/bin", dir: true}, {path: binPath, mode: 0o755, data: raw}})
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, base, app)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: o.Created}
	cf.Config = v1.Config{
		User:         fmt.Sprintf("%d:%d", nonroot, nonroot),
		Entrypoint:   []string{binPath},
		Cmd:          []string{"serve", "--listen", ":8080", "--data-dir", dataDir},
		WorkingDir:   dataDir,
		Volumes:      map[string]struct{}{dataDir: {}},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
		Env:          []string{"HOME=" + dataDir, "TZ=UTC"},
		Labels: map[string]string{
			"org.opencontainers.image.title":       "berth",
			"org.opencontainers.image.description": "berth: a control plane for services and development environments",
			"org.opencontainers.image.source":      "https://github.com/berthhq/berth",
			"org.opencontainers.image.revision":    o.Revision,
			"org.opencontainers.image.version":     o.Version,
			"org.opencontainers.image.licenses":    o.License,
			"org.opencontainers.image.created":     o.Created.Format(time.RFC3339),
		},
	}
	return mutate.ConfigFile(img, cf)
}

// compile builds berth for p, static (CGO off), with the shared flags.
func compile(o Options, p v1.Platform) (string, error) {
	out, err := os.CreateTemp("", "berth-image-*")
	if err != nil {
		return "", err
	}
	_ = out.Close()
	args := append([]string{"build"}, o.GoFlags...)
	args = append(args, "-ldflags", o.LDFlags, "-o", out.Name(), "./cmd/berth")
	cmd := exec.Command("go", args...) // #nosec G204 -- the build flags come from the Makefile
	cmd.Dir = o.Repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		_ = os.Remove(out.Name())
		return "", fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return out.Name(), nil
}

// entry is one file or directory of a layer.
type entry struct {
	path      string
	dir       bool
	mode      int64
	uid, gid  int
	data      []byte
	symlinkTo string
}

// baseLayer holds what every platform shares: the nonroot user, CA
// certificates, tzdata and the data directory (owned by nonroot). There is
// no shell and no package manager: only files berth reads.
func baseLayer(o Options) (v1.Layer, error) {
	certs, err := os.ReadFile(o.Certs)
	if err != nil {
		return nil, fmt.Errorf("CA certificates (apt-get install ca-certificates): %w", err)
	}
	es := []entry{
		{path: "/etc", dir: true},
		{path: "/etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/data:/sbin/nologin\n")},
		{path: "/etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{path: "/etc/nsswitch.conf", mode: 0o644, data: []byte("hosts: files dns\n")},
		{path: "/etc/ssl", dir: true}, {path: "/etc/ssl/certs", dir: true},
		{path: certFile, mode: 0o644, data: certs},
		{path: dataDir, dir: true, mode: 0o750, uid: nonroot, gid: nonroot},
		{path: "/tmp", dir: true, mode: 0o1777},
		{path: "/usr", dir: true}, {path: "/usr/share", dir: true},
	}
	zones, err := tree(o.Zoneinfo, zoneDir)
	if err != nil {
		return nil, fmt.Errorf("tzdata (apt-get install tzdata): %w", err)
	}
	return layer(o.Created, append(es, zones...))
}

// tree reads a directory of this machine into entries under at.
func tree(src, at string) ([]entry, error) {
	var es []entry
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		e := entry{path: filepath.ToSlash(filepath.Join(at, rel))}
		switch {
		case d.IsDir():
			e.dir = true
		case d.Type()&fs.ModeSymlink != 0:
			if e.symlinkTo, err = os.Readlink(p); err != nil {
				return err
			}
		case d.Type().IsRegular():
			e.mode = 0o644
			if e.data, err = os.ReadFile(p); err != nil { // #nosec G304 G122 -- the files of the installed tzdata package, read by a build tool
				return err
			}
		default:
			return nil
		}
		es = append(es, e)
		return nil
	})
	if len(es) == 0 && err == nil {
		err = errors.New(src + " is empty")
	}
	return es, err
}

// layer writes entries as an uncompressed tar (fixed times and owners, for
// a reproducible digest) and makes a gzip OCI layer of it.
func layer(mtime time.Time, es []entry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: strings.TrimPrefix(e.path, "/"), ModTime: mtime, Uid: e.uid, Gid: e.gid, Format: tar.FormatPAX}
		switch {
		case e.dir:
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
			if e.mode != 0 {
				h.Mode = e.mode
			}
		case e.symlinkTo != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, e.symlinkTo, 0o777
		default:
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, e.mode, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// tarDir writes the layout directory as one tarball (an OCI archive).
func tarDir(dir, dst string, mtime time.Time) error {
	f, err := os.Create(dst) // #nosec G304 -- the output path given
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: mtime, Mode: 0o644, Typeflag: tar.TypeReg}
		if d.IsDir() {
			h.Name, h.Mode, h.Typeflag = h.Name+"/", 0o755, tar.TypeDir
			return tw.WriteHeader(h)
		}
		raw, err := os.ReadFile(p) // #nosec G304 G122 -- a file of the layout this build just wrote
		if err != nil {
			return err
		}
		h.Size = int64(len(raw))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err = tw.Write(raw)
		return err
	})
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
