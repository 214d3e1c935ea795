#!/bin/sh
# Uninstall the macvtap CNI plugin binary from one node (delete step of the
# remote.Command built by components/node_commands.py), run as
#   [sudo -n] env NODE_NAME=.. STAGED_BINARY=.. BINARY_SHA256=.. CNI_BIN_DIR=.. \
#     sh -c "<common.sh + this file>" uninstall-macvtap-cni
# Inputs are only read as variables, never evaluated.
# Runs after common.sh (strict mode, helpers, input checks).
#
# Removes CNI_BIN_DIR/macvtap and STAGED_BINARY only if their sha256 is
# BINARY_SHA256, i.e. the binary this stack installed. Anything else (another
# version installed by a newer deployment during a replace, or a binary put
# there by someone else) is left in place with a WARNING on stderr, and the
# script still exits 0: a destroy must not fail on a file that is not ours. Missing files:
# "not installed", exit 0. Only malformed inputs make it fail.
#
# POSIX sh (dash -n, checkbashisms). Tools: coreutils, sha256sum. No single
# quotes in this file, so that it can be embedded in the command line verbatim.

# remove_if_ours WHAT FILE: remove FILE if its sha256 is BINARY_SHA256.
remove_if_ours() {
    if [ ! -e "$2" ] && [ ! -L "$2" ]; then
        say "no $1 at $2 (not installed), nothing to remove"
    elif ! sum=$(file_sha256 "$2"); then
        warn "$1 $2 is not a readable regular file; leaving it in place"
    elif [ "$sum" != "$BINARY_SHA256" ]; then
        warn "$1 $2 has sha256 $sum, not the one this command installed ($BINARY_SHA256), so a newer install or a foreign file; leaving it in place"
    elif rm_err=$(rm -f "$2" 2>&1); then
        say "removed $1 $2 (sha256 $BINARY_SHA256)"
    else
        fail "cannot remove $1 $2: $rm_err"
    fi
}


remove_if_ours "CNI binary" "${CNI_BIN_DIR%/}/macvtap"
remove_if_ours "staged copy" "$STAGED_BINARY"
