#!/bin/sh
# On purge (deb) or erase (rpm: $1 = 0) berth's user, state and
# configuration go: the machine is left as it was before the install.
set -e
case "$1" in
purge|0)
	rm -rf /var/lib/berth /var/lib/berth-workloads /etc/berth
	if getent passwd berth >/dev/null; then userdel berth >/dev/null 2>&1 || true; fi
	if getent group berth >/dev/null; then groupdel berth >/dev/null 2>&1 || true; fi
	;;
esac
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
