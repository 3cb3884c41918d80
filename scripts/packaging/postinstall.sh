#!/bin/sh
# After the vidup package's files landed (deb and rpm): serve.env holds
# secrets, so only root and the service may read it. The service is not
# started: it needs tokens and S3 credentials first (docs/install.md).
set -e
chown root:vidup /etc/vidup/serve.env
chmod 0640 /etc/vidup/serve.env
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
