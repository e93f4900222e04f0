#!/bin/sh
# berth's own system user, and the ownership of its configuration.
set -e
if ! getent group berth >/dev/null; then
	groupadd --system berth
fi
if ! getent passwd berth >/dev/null; then
	useradd --system --gid berth --home-dir /var/lib/berth --no-create-home \
		--shell /usr/sbin/nologin --comment "berth control plane" berth
fi
chown root:berth /etc/berth /etc/berth/berth.yaml /etc/berth/berth.env
chmod 0750 /etc/berth
chmod 0640 /etc/berth/berth.yaml /etc/berth/berth.env
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
