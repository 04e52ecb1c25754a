#!/usr/bin/env bash
# Install the Debian/Ubuntu packages convdemo needs, where we are allowed to.
#   bash scripts/install-system-deps.sh          # the app: Qt's xcb libraries, Fashion-MNIST
#   bash scripts/install-system-deps.sh --test   # also Xvfb, for the real-window test
# Needs root (or sudo). On other systems it says what to install and carries on.
set -u
# The libraries Qt 6's xcb platform plugin loads (found with ldd on PyQt6's libqxcb.so and
# libQt6XcbQpa.so.6 on a clean Debian 12), plus the Fashion-MNIST dataset package.
PACKAGES="libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-randr0
libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libxcb-shm0 libxcb-sync1
libxkbcommon-x11-0 libxkbcommon0 libx11-xcb1 libegl1 libgl1 libopengl0 libfontconfig1
libfreetype6 libdbus-1-3 libglib2.0-0 fonts-dejavu-core dataset-fashion-mnist python3-venv"
if [ "${1:-}" = "--test" ]; then
    PACKAGES="$PACKAGES xvfb xauth"
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: no apt-get here; install the equivalents of: $PACKAGES" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install-system-deps: not root and no sudo; ask an admin to install: $PACKAGES" >&2
        exit 0
    fi
fi
# shellcheck disable=SC2086
if ! dpkg -s $PACKAGES >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    if ! { $SUDO apt-get update -qq && \
           $SUDO apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null; }; then
        echo "install-system-deps: apt-get could not install: $PACKAGES" >&2
        echo "install-system-deps: install them by hand, then run this command again" >&2
        exit 1
    fi
fi
echo "install-system-deps: system packages are in place"
