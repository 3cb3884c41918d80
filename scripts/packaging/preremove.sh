#!/bin/sh
# Before the vidup package is removed (not upgraded): stop and disable the
# service. deb passes "remove" (or "upgrade"), rpm the number of versions
# left after this (0 on removal).
set -e
case "$1" in
  remove|0)
    if [ -d /run/systemd/system ]; then
      systemctl --no-reload disable --now vidup-serve.service >/dev/null 2>&1 || true
    fi
    ;;
esac
