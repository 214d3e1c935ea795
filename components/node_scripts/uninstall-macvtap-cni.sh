#!/bin/sh
# Uninstall the macvtap CNI plugin binary from one node (delete step of the
# remote.Command built by components/node_commands.py), run as
#   [sudo -n] env NODE_NAME=.. STAGED_BINARY=.. BINARY_SHA256=.. CNI_BIN_DIR=.. \
#     sh -c "<common.sh + this file>" uninstall-macvtap-cni
# Inputs are only read as variables, never evaluated.
# Runs after common.sh (strict mode, helpers, input checks).
#
# Removes CNI_BIN_DIR/macvtap and STAGED_BINARY only if their sha256 is
# BINARY_SHA256, i.e. the binary this stack installed. Anything else is left in
# place, and the script still exits 0: a destroy must not fail on a file that is
# not ours. Two cases:
# - a newer version this program installed: on a binary upgrade Pulumi replaces
#   the install command, creating the new one before deleting the old, so this
#   script finds the new binary in place. That is expected: a progress line on
#   stdout (not logged), no warning. It is recognised by its staged copy, which
#   this program put next to ours under the same name pattern.
# - anything else (a binary put there by someone else): a WARNING on stderr.
# Missing files: "not installed", exit 0. Only malformed inputs make it fail.
#
# POSIX sh (dash -n, checkbashisms). Tools: coreutils, sha256sum. No single
# quotes in this file, so that it can be embedded in the command line verbatim.

# A staged copy is named <staging dir>/macvtap-cni-<first 16 hex digits of its
# sha256> (staged_binary_path in components/node_commands.py), so STAGED_BINARY
# minus our prefix names where this program staged any other version.
staged_prefix=${STAGED_BINARY%"$(printf "%.16s" "$BINARY_SHA256")"}

# staged_here SUM: true if this program staged a binary with sha256 SUM on this node.
staged_here() {
    [ "$staged_prefix" != "$STAGED_BINARY" ] || return 1
    staged_sum=$(file_sha256 "$staged_prefix$(printf "%.16s" "$1")") && [ "$staged_sum" = "$1" ]
}

# leave_other WHAT FILE SUM: FILE holds a binary with sha256 SUM that is not ours; say why it stays.
leave_other() {
    if staged_here "$3"; then
        say "$1 $2 has sha256 $3, a newer version installed by this program (staged as $staged_prefix$(printf "%.16s" "$3")); leaving it in place"
    else
        warn "$1 $2 has sha256 $3, not the one this command installed ($BINARY_SHA256) nor one this program staged on this node, so a foreign file; leaving it in place"
    fi
}

# remove_if_ours WHAT FILE: remove FILE if its sha256 is BINARY_SHA256.
remove_if_ours() {
    if [ ! -e "$2" ] && [ ! -L "$2" ]; then
        say "no $1 at $2 (not installed), nothing to remove"
    elif ! sum=$(file_sha256 "$2"); then
        warn "$1 $2 is not a readable regular file; leaving it in place"
    elif [ "$sum" != "$BINARY_SHA256" ]; then
        leave_other "$1" "$2" "$sum"
    elif rm_err=$(rm -f "$2" 2>&1); then
        say "removed $1 $2 (sha256 $BINARY_SHA256)"
    else
        fail "cannot remove $1 $2: $rm_err"
    fi
}


remove_if_ours "CNI binary" "${CNI_BIN_DIR%/}/macvtap"
remove_if_ours "staged copy" "$STAGED_BINARY"
# The install token (install-macvtap-cni.sh) goes with our binary; a newer install keeps its own.
if [ ! -e "${CNI_BIN_DIR%/}/macvtap" ]; then
    rm -f "${STAGED_BINARY%/*}/install-token"
fi
