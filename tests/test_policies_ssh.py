"""Claims about ssh-host-key-pinned: remote commands and copies pin connection.hostKey."""

from __future__ import annotations

import pytest

from policies.guardrails import kinds
from tests.policy_resources import (
    check_stack,
    connection,
    resource,
)

# --- ssh-host-key-pinned --------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", [kinds.REMOTE_COMMAND_TYPE, kinds.COPY_TO_REMOTE_TYPE])
def test_remote_connections_must_pin_the_host_key(resource_type: str) -> None:
    pinned = resource(resource_type, "pinned", {"connection": connection()})
    unpinned = resource(resource_type, "unpinned", {"connection": connection("192.0.2.12", host_key=None)})
    [(message, urn)] = check_stack("ssh-host-key-pinned", [pinned, unpinned])
    assert "'unpinned'" in message and "192.0.2.12" in message and "hostKey" in message
    assert urn == unpinned.urn
