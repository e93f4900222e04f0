#!/usr/bin/env bash
# Installs what berth's tests need and the machine lacks, from Debian's packages.
set -euo pipefail

need=()
have_pg() {
	command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1 && return 0
	compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
have_pg || need+=(postgresql)
command -v node >/dev/null 2>&1 || need+=(nodejs)
# The dashboard's type check installs its pinned TypeScript with npm (Debian
# packages npm apart from nodejs).
command -v npm >/dev/null 2>&1 || need+=(npm)
# The metrics tests scrape berth with a real Prometheus (/usr/bin/prometheus).
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
# The Kubernetes tests check the real cluster from outside with kubectl.
command -v kubectl >/dev/null 2>&1 || need+=(kubectl)
# The dashboard's browser tests drive Debian's Chromium (/usr/bin/chromium) headless.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# Shipping (deploy/, tools/image): promtool comes with prometheus; the image
# carries Debian's CA certificates and tzdata; the package test verifies
# berth.service with systemd-analyze.
[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
[ -f /usr/share/zoneinfo/UTC ] || need+=(tzdata)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# The package test reads the .rpm with rpm itself (header, files, scriptlets,
# config files, requirements, digests); it does not install it.
command -v rpm >/dev/null 2>&1 || need+=(rpm)

if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
echo "install-deps: installing ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root (or sudo) to install ${need[*]}" >&2; exit 1; }
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
