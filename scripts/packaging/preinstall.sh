#!/bin/sh
# Before the vidup package's files land (deb and rpm): the system user and
# group vidup-serve.service runs as. Kept on removal, as Debian and Fedora
# keep system users (files the user owned may remain).
set -e
if ! getent group vidup >/dev/null 2>&1; then
  groupadd --system vidup
fi
if ! getent passwd vidup >/dev/null 2>&1; then
  useradd --system --gid vidup --home-dir /var/lib/vidup --no-create-home \
    --shell /usr/sbin/nologin --comment "vidup serve" vidup
fi
