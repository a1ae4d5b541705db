#!/usr/bin/env bash
# Installs strace, which tests/test_no_outbound.py runs the commands under to see every
# connection and name lookup they make, native code's included. Test-only; about 3 MB installed.
#
# Idempotent: does nothing when strace is already there.
set -euo pipefail

if command -v strace >/dev/null 2>&1; then
    echo "strace already installed: $(strace -V | head -n 1)"
    exit 0
fi

# shellcheck source=scripts/apt-install.sh
source "$(dirname "$0")/apt-install.sh"
apt_install "strace" strace

strace -V | head -n 1
