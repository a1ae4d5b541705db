#!/usr/bin/env bash
# Sourced by the install scripts: `apt_install WHAT PACKAGE...` installs Debian packages as root,
# through sudo when not root, and sets SUDO for the script's own root commands after it.
# Stops with what to do when neither is possible.

apt_install() {
    local what=$1
    shift
    SUDO=""
    if [[ "$(id -u)" -ne 0 ]]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "error: installing $what needs root (run this script as root or install sudo)" >&2
            exit 1
        fi
        SUDO=sudo
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends "$@"
}
