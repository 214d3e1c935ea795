#!/usr/bin/env bash
# The Debian packages the dataplane suite needs (make dataplane, and the dataplane step of make
# e2e), installed if missing, and the guest kernel's package, downloaded once into the cache the
# suite reads (tests/dataplane/guest.py). Everything comes from Debian's archive; nothing is built.
#   qemu-system-x86   qemu, which runs the guests (software emulation where /dev/kvm cannot)
#   busybox-static    the guest's userland (a static /bin/busybox)
#   iputils-ping      the guest's ping (busybox's cannot set DF: -M do)
#   sudo              ssh-mode node scripts of a non-root node user run `sudo -n`
#   linux-image-<version>-cloud-amd64 (downloaded, not installed): the guest's kernel and virtio modules
set -euo pipefail

need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then need+=(busybox-static); fi
ping -V 2>/dev/null | grep -q iputils || need+=(iputils-ping)
command -v sudo >/dev/null 2>&1 || need+=(sudo)
if ((${#need[@]})); then
    echo "dataplane-packages: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${need[@]}" >/dev/null \
        || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }
fi

cache="${KVM_DATAPLANE_KERNEL:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm-in-a-pod/dataplane}"
mkdir -p "$cache"
if ! compgen -G "$cache/linux-image-*-cloud-amd64*_amd64.deb" >/dev/null; then
    package=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
    [ -n "$package" ] || { echo "dataplane-packages: apt-cache knows no linux-image-cloud-amd64 (apt-get update?)" >&2; exit 1; }
    echo "dataplane-packages: downloading $package into $cache" >&2
    (cd "$cache" && apt-get download "$package" >/dev/null 2>&1)
fi
echo "dataplane-packages: ready (guest kernel package in $cache)" >&2
