#!/bin/sh
# After the vidup package is removed or upgraded: systemd forgets the unit
# file that went away.
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
