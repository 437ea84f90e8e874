#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Install the Debian packages vrc needs to build, test and run (Debian 12, as root).
# Idempotent: a second run with everything present does no network access.
set -euo pipefail

stamp=${1:-build/.deps-installed}
here=$(cd "$(dirname "$0")" && pwd)

# Packages from bookworm itself.
BASE_PKGS=(
    build-essential ccache ninja-build pkg-config git xz-utils cpio gzip
    libglib2.0-dev libpixman-1-dev libslirp-dev libfdt-dev libpcap-dev
    flex bison python3-venv python3 clang llvm libclang-rt-14-dev
    iproute2 tshark seabios ipxe-qemu busybox-static kmod xz-utils
    gnuplot-nox iperf3 jq
    libsqlite3-dev sqlite3 libjson-glib-dev pci.ids
    nettle-dev libgnutls28-dev
)
# Packages we need newer versions of, from bookworm-backports.
BPO_PKGS=(meson python3-pycotap qemu-system-data)

need=()
for p in "${BASE_PKGS[@]}" "${BPO_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
# meson must be >= 1.5 (bookworm ships 1.0)
if command -v meson >/dev/null; then
    dpkg --compare-versions "$(meson --version)" ge 1.5 || need+=(meson)
fi
if [ ${#need[@]} -eq 0 ] && [ -f "$stamp" ]; then
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing packages (${need[*]}) and not root; install them or run as root" >&2
    exit 1
fi

# deb and deb-src for bookworm-backports, deb-src for bookworm: same mirror and
# keyring as the machine's own sources.
src=/etc/apt/sources.list.d/vrc.sources
if [ ! -f "$src" ]; then
    base=/etc/apt/sources.list.d/debian.sources
    uri=$(awk '/^URIs:/ {print $2; exit}' "$base" 2>/dev/null || true)
    key=$(awk '/^Signed-By:/ {print $2; exit}' "$base" 2>/dev/null || true)
    uri=${uri:-http://deb.debian.org/debian}
    key=${key:-/usr/share/keyrings/debian-archive-keyring.gpg}
    cat > "$src" <<SRC
Types: deb deb-src
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: $key

Types: deb-src
URIs: $uri
Suites: bookworm
Components: main
Signed-By: $key
SRC
    rm -f /var/lib/apt/lists/lock.updated
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get install -y -q --no-install-recommends "${BASE_PKGS[@]}"
apt-get install -y -q --no-install-recommends -t bookworm-backports "${BPO_PKGS[@]}"
mkdir -p "$(dirname "$stamp")"
touch "$stamp"
