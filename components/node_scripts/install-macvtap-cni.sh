#!/bin/sh
# Install the macvtap CNI plugin binary on one node (create step of the
# remote.Command built by components/node_commands.py), run as
#   [sudo -n] env NODE_NAME=.. STAGED_BINARY=.. BINARY_SHA256=.. CNI_BIN_DIR=.. \
#     sh -c "<common.sh + this file>" install-macvtap-cni [LOWER_DEVICE[:MTU]...] <<< INSTALL_TOKEN
# Inputs are only read as variables, positional parameters and one line of stdin, never evaluated.
# Runs after common.sh (strict mode, helpers, input checks).
#
# Steps: check that every lower device exists; if CNI_BIN_DIR/macvtap already
# has BINARY_SHA256, do nothing; else verify the staged copy, copy it to a temp
# file in CNI_BIN_DIR, verify the hash of that copy, chmod 0755, mv -f over
# CNI_BIN_DIR/macvtap. Then make sure the macvtap kernel module is available, and
# write the install token read from stdin to <staging dir>/install-token: the
# program reads it back before its next update (components/node_probe.py), so
# that a node whose binary went missing or was replaced is installed again.
# Any failure: message naming node, path and cause on stderr, exit 1, and the
# previously installed binary is untouched (the temp file is removed by a trap).
#
# Kernel module decision: WARN, DO NOT FAIL. If /sys/module/macvtap is absent we
# try "modprobe macvtap"; if modprobe is missing or fails we print a WARNING
# and go on. Container nodes (kind) share the host kernel and usually have no
# modprobe and no right to load modules: the module must be loaded on the host.
# On ordinary hosts the kernel also loads it on demand when the first macvtap
# link is created (module alias rtnl-link-macvtap). A node that really lacks
# it fails later, when a VM starts, with an error from the CNI plugin.
#
# POSIX sh (dash -n, checkbashisms). Tools: coreutils, sha256sum, ip, modprobe
# (optional). No single quotes in this file, so that it can be embedded in the
# command line verbatim.

# try WHAT COMMAND [ARG...]: run COMMAND; on failure, fail with WHAT and its stderr.
try() {
    try_what=$1
    shift
    try_err=$("$@" 2>&1 >/dev/null) || fail "$try_what: ${try_err:-exit status $?}"
}

dir=${CNI_BIN_DIR%/}
target="$dir/macvtap"
staging=${STAGED_BINARY%/*}

# 0. The install token (one line on stdin; empty: none is written).
token=""
IFS= read -r token || true
case $token in
    *[!0-9a-z-]*) fail "the install token on stdin must be up to 64 of 0-9 a-z -, got \"$token\"; $target left unchanged" ;;
esac
[ "${#token}" -le 64 ] || fail "the install token on stdin is longer than 64 characters; $target left unchanged"

# 1. Lower devices: each argument is DEVICE or DEVICE:MTU, the MTU the device must have at
# least (a macvtap cannot exceed its lower device: a NIC asking for more fails at pod start).
if [ "$#" -gt 0 ]; then
    command -v ip >/dev/null 2>&1 \
        || fail "the ip command (iproute2) is missing; cannot check lower devices $*"
    for arg in "$@"; do
        dev=${arg%%:*}
        ip link show dev "$dev" >/dev/null 2>&1 \
            || fail "lower device $dev does not exist (ip link show dev $dev); fix the configured lowerDevice; $target left unchanged"
        case $arg in
            *:*)
                need=${arg#*:}
                have=$(ip -o link show dev "$dev" | sed -n "s/.* mtu \([0-9][0-9]*\).*/\1/p")
                [ -n "$have" ] || fail "cannot read the MTU of lower device $dev (ip -o link show dev $dev); $target left unchanged"
                [ "$have" -ge "$need" ] \
                    || fail "lower device $dev has MTU $have, below the $need its macvtap networks need (a macvtap cannot exceed its lower device: VMs would fail to start with \"invalid argument\"); raise the MTU of $dev on this node, or lower the configured mtu; $target left unchanged"
                ;;
        esac
    done
fi

# 2. The binary.
if [ -d "$target" ]; then
    fail "$target is a directory; refusing to touch it"
fi
if old_sum=$(file_sha256 "$target") && [ "$old_sum" = "$BINARY_SHA256" ]; then
    [ -x "$target" ] || try "cannot chmod 0755 $target" chmod 0755 "$target"
    say "$target already installed (sha256 $BINARY_SHA256), nothing to do"
else
    staged_sum=$(file_sha256 "$STAGED_BINARY") \
        || fail "staged binary $STAGED_BINARY is missing or unreadable; $target left unchanged"
    [ "$staged_sum" = "$BINARY_SHA256" ] \
        || fail "staged binary $STAGED_BINARY has sha256 $staged_sum, expected $BINARY_SHA256 (corrupted or wrong copy); $target left unchanged"

    try "cannot create directory $dir" mkdir -p "$dir"
    tmp=""
    cleanup() {
        if [ -n "$tmp" ]; then rm -f "$tmp"; fi
    }
    trap cleanup EXIT
    trap "exit 129" HUP
    trap "exit 130" INT
    trap "exit 143" TERM
    tmp=$(mktemp "$dir/.macvtap.XXXXXX" 2>/dev/null) \
        || fail "cannot create a temporary file in $dir (not root? read-only?); $target left unchanged"
    try "cannot copy $STAGED_BINARY to $tmp; $target left unchanged" cp "$STAGED_BINARY" "$tmp"
    # Verify the copy we are about to install, not the staged file: nothing can
    # swap it between this check and the mv.
    tmp_sum=$(file_sha256 "$tmp") || fail "cannot read back $tmp; $target left unchanged"
    [ "$tmp_sum" = "$BINARY_SHA256" ] \
        || fail "copy $tmp of $STAGED_BINARY has sha256 $tmp_sum, expected $BINARY_SHA256 (staged file changed during install?); $target left unchanged"
    try "cannot chmod 0755 $tmp; $target left unchanged" chmod 0755 "$tmp"
    try "cannot move $tmp to $target; $target left unchanged" mv -f "$tmp" "$target"
    tmp=""
    if [ -n "${old_sum:-}" ]; then
        say "installed $target (sha256 $BINARY_SHA256), replacing sha256 $old_sum"
    else
        say "installed $target (sha256 $BINARY_SHA256)"
    fi
fi

# 3. The install token, where the program looks for it (written whole, then renamed).
if [ -n "$token" ]; then
    token_tmp="$staging/.install-token.$$"
    printf "%s\n" "$token" >"$token_tmp" 2>/dev/null && mv -f "$token_tmp" "$staging/install-token" \
        || { rm -f "$token_tmp"; fail "cannot write the install token to $staging/install-token; the binary is installed, the next update installs it again"; }
fi

# 4. Kernel module (see the decision at the top: warn, never fail).
if [ -d /sys/module/macvtap ]; then
    say "macvtap kernel module is loaded"
elif ! command -v modprobe >/dev/null 2>&1; then
    warn "macvtap kernel module is not loaded and modprobe is not available (container or kind node?). Run \"modprobe macvtap\" on the machine that owns this node kernel, or VMs with a macvtap interface will not start here."
elif modprobe_err=$(modprobe macvtap 2>&1); then
    say "loaded the macvtap kernel module"
else
    warn "modprobe macvtap failed: ${modprobe_err:-no output}. Load the macvtap module on the machine that owns this node kernel, or VMs with a macvtap interface will not start here."
fi
