#!/bin/sh
# Runs a UI test under its own Xvfb and D-Bus session bus. Exit 77 (skip)
# when there is no Xvfb on this machine. Only the test writes to stdout
# (its TAP stream); daemons started on the bus write to stderr.
set -e

if ! command -v xvfb-run >/dev/null 2>&1 || ! command -v Xvfb >/dev/null 2>&1; then
  echo "1..0 # SKIP Xvfb is not installed"
  exit 77
fi

# No portals: the test needs no desktop integration, and they start daemons.
export ADW_DISABLE_PORTAL=1
export GTK_USE_PORTAL=0

exec 3>&1
if command -v dbus-run-session >/dev/null 2>&1; then
  exec xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" \
    dbus-run-session --config-file="$(dirname "$0")/session-bus.conf" -- \
    sh -c 'exec "$@" 1>&3 3>&-' sh "$@" >&2
fi
exec xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" \
  sh -c 'exec "$@" 1>&3 3>&-' sh "$@" >&2
