#!/usr/bin/env bash
# Vendors uPlot (MIT, a small time-series chart library) into the
# dashboard from its published npm package at an exact version: the ES
# module, its stylesheet, its type declarations (for tsc --noEmit) and its
# licence, with a VERSION file of sha256 sums that web's TestVendoredUPlot
# checks. The dashboard has no build step: the browser loads these files as
# they are, from berth's own origin (the CSP allows nothing else).
#
#   scripts/vendor-uplot.sh            # the pinned version below
#   UPLOT_VERSION=1.6.33 scripts/vendor-uplot.sh
set -euo pipefail

version="${UPLOT_VERSION:-1.6.32}"
# The registry's integrity of uplot-1.6.32.tgz; another version is checked
# against what the registry states for it.
integrity_1_6_32="sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw=="

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/web/static/assets/vendor/uplot"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "uplot@$version" >/dev/null
tgz="uplot-$version.tgz"
want="$integrity_1_6_32"
if [ "$version" != "1.6.32" ]; then
	want="$(npm view "uplot@$version" dist.integrity)"
fi
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [ "$got" != "$want" ]; then
	echo "vendor-uplot: $tgz has integrity $got, the registry says $want" >&2
	exit 1
fi
tar xzf "$tgz"

mkdir -p "$dest"
rm -f "$dest"/*
cp package/dist/uPlot.esm.js package/dist/uPlot.min.css package/LICENSE "$dest/"
# tsc resolves ./uPlot.esm.js to the declarations beside it.
cp package/dist/uPlot.d.ts "$dest/uPlot.esm.d.ts"
{
	echo "uplot $version"
	echo "package $tgz $want"
	(cd "$dest" && sha256sum LICENSE uPlot.esm.d.ts uPlot.esm.js uPlot.min.css)
} >"$dest/VERSION"
echo "vendored uPlot $version into ${dest#"$root"/}"
