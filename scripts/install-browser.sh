#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (tests/browser/).
#
# Idempotent: does nothing when /usr/bin/chromium is already there. We use the distribution's
# Chromium instead of `playwright install` because the Playwright download servers are not
# reachable from our build machines, while the Debian mirror is.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ -x "$CHROMIUM" ]]; then
    echo "chromium already installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "error: installing chromium needs root (run this script as root or install sudo)" >&2
        exit 1
    fi
else
    SUDO=""
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# Fonts with Vietnamese glyphs, so screenshots show the text instead of boxes.
$SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core fonts-noto-core

"$CHROMIUM" --version
