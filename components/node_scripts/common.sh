#!/bin/sh
# Shared start of the node scripts: components/node_commands.py sends this file followed by
# install-macvtap-cni.sh or uninstall-macvtap-cni.sh as one `sh -c` script, so each node
# runs a single self-contained text. It sets strict mode, the message helpers and the hash
# helper, and refuses malformed inputs before the script body touches anything.
# POSIX sh; no single quotes (the text is embedded in the command line verbatim).
set -eu
umask 022
PATH="${PATH:-/usr/bin:/bin}:/usr/sbin:/sbin"
export PATH

fail() {
    printf "%s: node %s: ERROR: %s\n" "$0" "${NODE_NAME:-?}" "$*" >&2
    exit 1
}
warn() {
    printf "%s: node %s: WARNING: %s\n" "$0" "${NODE_NAME:-?}" "$*" >&2
}
say() {
    printf "node %s: %s\n" "$NODE_NAME" "$*"
}
# file_sha256 FILE: print the lowercase hex sha256 of FILE; status 1 if unreadable.
file_sha256() {
    [ -f "$1" ] || return 1
    sha256_out=$(sha256sum <"$1" 2>/dev/null) || return 1
    printf "%s\n" "${sha256_out%% *}"
}

[ -n "${NODE_NAME:-}" ] || fail "NODE_NAME is not set"
case ${STAGED_BINARY:-} in
    /*) ;;
    *) fail "STAGED_BINARY must be an absolute path, got \"${STAGED_BINARY:-}\"" ;;
esac
case ${CNI_BIN_DIR:-} in
    /*) ;;
    *) fail "CNI_BIN_DIR must be an absolute path, got \"${CNI_BIN_DIR:-}\"" ;;
esac
case ${BINARY_SHA256:-} in
    "" | *[!0-9a-f]*) fail "BINARY_SHA256 must be a lowercase hex sha256" ;;
esac
[ "${#BINARY_SHA256}" -eq 64 ] || fail "BINARY_SHA256 must be 64 hex digits"
