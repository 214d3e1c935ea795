"""Offline, a `vms` stack's StackReference is resolved by recording the platform stack it names.

There is no backend to read the referenced stack's outputs from, so when the referenced stack is one
of this project's own stack files, its program is run first under the recording engine and its
exports stand in for what ``pulumi up`` of it would have exported. A reference to a stack of another
project (``org/<other project>/stack``) cannot be resolved offline and is refused with a clear message.

Stack names resolve as the CLI resolves them for the current project (Pulumi docs, Concepts > Stacks):
``stack`` and ``org/stack`` are stacks of this project; ``org/project/stack`` names its project.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from offline.engine import record_stack
from offline.stack_config import PROJECT_NAME, PROJECT_ROOT, StackConfigError, stack_config, stack_file

ROLE_CONFIG = f"{PROJECT_NAME}:role"
PLATFORM_STACK_CONFIG = f"{PROJECT_NAME}:platformStack"


class PlatformStackError(Exception):
    """The referenced platform stack cannot be planned offline; the message names platformStack."""


@dataclass(frozen=True)
class ResolvedPlatform:
    reference: str  # as the vms stack names it
    stack: str  # this project's stack file it resolved to
    outputs: dict[str, Any]


def local_stack_name(reference: str) -> str | None:
    """The stack of this project that ``reference`` names, or None for another project's stack."""
    parts = reference.split("/")
    if len(parts) == 3 and parts[1] != PROJECT_NAME:
        return None
    return parts[-1]


def resolve_platform(
    stack: str,
    config: Mapping[str, Any],
    *,
    platform_overrides: Mapping[str, Any] | None = None,
    secret_values_for: Callable[[Mapping[str, Any]], dict[str, str]] = lambda _config: {},
    stand_ins_for: Callable[[str, Mapping[str, Any]], dict[str, Any]] = lambda _stack, _config: {},
) -> ResolvedPlatform | None:
    """Record the platform a `vms` stack references; None for other roles.

    ``config`` is the vms stack's effective config (full keys, ``offline.engine.stack_config``). A
    missing or malformed ``platformStack`` is left to the program, which refuses it with its key
    path. ``platform_overrides`` replace keys of the platform stack's config (as ``--set`` does for
    the planned stack); ``secret_values_for`` gives placeholders for the secrets its file cannot
    give, ``stand_ins_for`` more overrides for what its working tree lacks (the CNI binary).
    """
    reference = config.get(PLATFORM_STACK_CONFIG)
    if config.get(ROLE_CONFIG) != "vms" or not isinstance(reference, str):
        return None
    prefix = f"{PLATFORM_STACK_CONFIG}: {reference!r}"
    platform = local_stack_name(reference)
    if platform is None:
        raise PlatformStackError(
            f"{prefix} is a stack of another project; only stacks of this project ({PROJECT_NAME}) can be planned offline."
            " Plan with pulumi preview against the backend that holds it."
        )
    path = stack_file(platform)
    if platform == stack:
        raise PlatformStackError(f"{prefix} is this stack itself; name the stack with role platform (or all) that runs the platform")
    if not path.is_file():
        raise PlatformStackError(f"{prefix}: no stack file {path.name} in {PROJECT_ROOT} to plan the platform from")
    try:
        platform_config = stack_config(platform, overrides=platform_overrides)
    except StackConfigError as error:
        raise PlatformStackError(f"{prefix}: the platform stack {platform} cannot be planned: {error}") from None
    role = platform_config.get(ROLE_CONFIG, "all")
    if role == "vms":
        raise PlatformStackError(f"{prefix} is a stack with role vms; a platform stack has role platform or all")
    overrides = {**(platform_overrides or {}), **stand_ins_for(platform, platform_config)}
    try:
        recording = record_stack(platform, config_overrides=overrides, secret_values=secret_values_for(platform_config))
    except (pulumi.RunError, StackConfigError) as error:
        raise PlatformStackError(f"{prefix}: the platform stack {platform} cannot be planned: {error}") from None
    return ResolvedPlatform(reference, platform, dict(recording.outputs))
