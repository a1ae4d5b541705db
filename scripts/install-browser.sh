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

# shellcheck source=scripts/apt-install.sh
source "$(dirname "$0")/apt-install.sh"
# Fonts with Vietnamese glyphs, so screenshots show the text instead of boxes.
apt_install chromium chromium fonts-dejavu-core fonts-noto-core

"$CHROMIUM" --version
