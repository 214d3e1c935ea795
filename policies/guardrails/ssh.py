"""Remote commands and copies to nodes pin the SSH host key."""

from __future__ import annotations

from typing import Final

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy

from .kinds import COPY_TO_REMOTE_TYPE, REMOTE_COMMAND_TYPE
from .values import UNKNOWN, at, plain


def _check_ssh_host_key_pinned(args: StackValidationArgs, report: ReportViolation) -> None:
    for resource in args.resources:
        if resource.resource_type not in (REMOTE_COMMAND_TYPE, COPY_TO_REMOTE_TYPE):
            continue
        connection = at(plain(resource.props), "connection")
        host_key = at(connection, "hostKey")
        if connection is UNKNOWN or host_key is UNKNOWN or host_key:
            continue
        host = at(connection, "host")
        report(
            f"'{resource.name}' ({resource.resource_type}) connects to "
            f"{host if isinstance(host, str) else 'its node'} without connection.hostKey, so the SSH server "
            "key is not checked and a spoofed host would receive the commands and files. Pin the node's "
            f"public host key (ssh-keyscan -t ed25519 <host>) as hostKey.",
            resource.urn,
        )


SSH_HOST_KEY_PINNED: Final = StackValidationPolicy(
    name="ssh-host-key-pinned",
    description="Every remote command and copy pins the node's SSH host key (connection.hostKey).",
    validate=_check_ssh_host_key_pinned,
    enforcement_level=EnforcementLevel.ADVISORY,
)
