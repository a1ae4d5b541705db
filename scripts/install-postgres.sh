#!/usr/bin/env bash
# Installs Debian's PostgreSQL server for the tests marked `postgres` (tests/test_feedback_postgres.py).
#
# Idempotent: does nothing when a /usr/lib/postgresql/*/bin/initdb is already there. The tests
# start their own throwaway cluster from these binaries (tests/support/postgres.py); they never
# use the package's default cluster, so a cluster the install just started is stopped again and
# kept from starting at boot.
set -euo pipefail

shopt -s nullglob
found=(/usr/lib/postgresql/*/bin/initdb)
shopt -u nullglob
if [[ ${#found[@]} -gt 0 ]]; then
    echo "postgresql already installed: ${found[*]}"
    exit 0
fi

# shellcheck source=scripts/apt-install.sh
source "$(dirname "$0")/apt-install.sh"
apt_install postgresql postgresql

# The package may have created and started a default cluster: nothing here needs it.
if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters --no-header | while read -r version name _port status _rest; do
        if [[ "$status" == online* ]]; then
            $SUDO pg_ctlcluster "$version" "$name" stop || true
        fi
    done
fi
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    $SUDO systemctl disable --now postgresql >/dev/null 2>&1 || true
fi

ls /usr/lib/postgresql/*/bin/initdb
