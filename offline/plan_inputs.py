"""What one run of the offline plan works from: the stack's config as the CLI reads it, the stand-ins
for what only ``pulumi up`` can have, the policy config, the schemas and the platform.

Two things a stack file cannot give without the CLI or the user's files are planned with stand-ins,
each said on stdout, so that the plan ends as ``pulumi up`` would and never stops for them:

- a secret (an encrypted ``secure:`` value, or the SSH key that ssh mode needs and that is set
  with ``pulumi config set --secret``): a placeholder value, never written (``find_leaks``);
- the macvtap CNI binary of ssh mode (``macvtap.cniBinaryPath``), which a fresh clone does not
  have: a small placeholder file, hashed as the program hashes the binary. The plan shows the
  path as the config names it. The program itself still refuses a missing file, so ``pulumi up``
  does too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offline.platform_stack import ResolvedPlatform, resolve_platform
from offline.policy_run import POLICY_CONFIG_DIR, PolicyConfigError, read_policy_config
from offline.project_config import is_encrypted
from offline.schema_check import Schemas, load_schemas
from offline.schema_source import FetchPolicy, default_cache_dir, refuse_mirror
from offline.stack_config import PROJECT_NAME, PROJECT_ROOT, stack_config, stack_file

SSH_KEY_CONFIG = f"{PROJECT_NAME}:sshPrivateKey"
MACVTAP_CONFIG = f"{PROJECT_NAME}:macvtap"
# Stands in for the SSH private key when the stack file cannot give it. Shaped like a key so
# that the program's config check accepts it; never written anywhere (the final scan checks).
PLACEHOLDER_SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nkvm-in-a-pod-offline-plan-placeholder-not-a-key\n-----END OPENSSH PRIVATE KEY-----\n"
)
PLACEHOLDER_SECRET = "kvm-in-a-pod-offline-plan-placeholder-secret"
# The stand-in CNI binary's content: fixed, so its sha256 (in the commands, the staged file's name
# and the triggers) is the same on every run and every machine.
PLACEHOLDER_BINARY = b"#!/bin/sh\n# kvm-in-a-pod offline plan: a placeholder for the macvtap CNI binary, never installed\nexit 1\n"
PLACEHOLDER_BINARY_NAME = "macvtap-cni-placeholder"


class UsageError(Exception):
    """Bad arguments or inputs: exit 2 with the message."""


@dataclass(frozen=True)
class PlaceholderBinary:
    """The CNI binary the config names but the working tree lacks, planned with a stand-in."""

    stack: str  # whose macvtap.cniBinaryPath it is (the planned stack, or the platform stack it reads)
    configured: str  # the path as macvtap.cniBinaryPath gives it ("build/macvtap")
    stand_in: Path  # the placeholder file the program reads instead

    @property
    def sha256(self) -> str:
        """What the program hashed: the stand-in's content (the file itself lives only during the recording)."""
        return hashlib.sha256(PLACEHOLDER_BINARY).hexdigest()


@dataclass(frozen=True)
class PlanInputs:
    overrides: dict[str, Any]  # config key -> value (None removes the key), stand-ins included
    secret_values: dict[str, str]  # placeholders for secrets the stack file cannot give
    config: dict[str, Any]  # the effective config as the CLI hands it over (full keys), before stand-ins
    policy_config: dict[str, Any]
    policy_source: str  # the file, or what stands for it
    local_schemas: Schemas | None  # from --schemas; None: upstream's by version
    fetch: FetchPolicy
    platform: ResolvedPlatform | None  # role vms: the recorded platform stack its StackReference reads
    binaries: tuple[PlaceholderBinary, ...] = ()  # this stack's and its platform's


def read_inputs(args: argparse.Namespace, scratch: Path) -> PlanInputs:
    """Everything the run needs, read and checked before anything is recorded.

    ``scratch`` is a directory for the stand-in binary; it must outlive the recording.
    Raises UsageError, StackConfigError, SchemaLoadError or PlatformStackError.
    """
    overrides = parse_overrides(args.set)
    if not stack_file(args.stack).exists():
        raise UsageError(f"no stack file {stack_file(args.stack).name} in {PROJECT_ROOT}")
    config = stack_config(args.stack, overrides=overrides)
    binary, binary_override = placeholder_binary(args.stack, config, scratch / "stack")
    policy_config, policy_source = _policy_config(args.stack, args.policy_config)
    _check_out(args.out)
    mirror_problem = None if args.mirror is None else refuse_mirror(args.mirror)
    if mirror_problem:
        raise UsageError(f"--mirror: {mirror_problem}")
    platform_binaries: list[PlaceholderBinary] = []

    def platform_overrides(platform: str, platform_config: Mapping[str, Any]) -> dict[str, Any]:
        found, override = placeholder_binary(platform, platform_config, scratch / "platform")
        platform_binaries.extend([found] if found else [])
        return override

    platform = resolve_platform(
        args.stack,
        config,
        platform_overrides=parse_overrides(args.platform_set),
        secret_values_for=placeholder_secrets,
        stand_ins_for=platform_overrides,
    )
    return PlanInputs(
        overrides={**overrides, **binary_override},
        secret_values=placeholder_secrets(config),
        config=config,
        policy_config=policy_config,
        policy_source=policy_source,
        local_schemas=None if args.schemas is None else load_schemas(args.schemas),
        fetch=FetchPolicy(default_cache_dir(), offline=args.offline, mirror=args.mirror),
        platform=platform,
        binaries=(*([binary] if binary else []), *platform_binaries),
    )


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=JSON`` items as ``{key: value}``; keys are full config keys (``kvm-in-a-pod:vms``)."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, separator, text = item.partition("=")
        if not separator or ":" not in key:
            raise UsageError(f"--set {item!r}: expected KEY=JSON with a full config key, e.g. {MACVTAP_CONFIG}='{{...}}'")
        try:
            overrides[key] = json.loads(text)
        except ValueError as error:
            raise UsageError(f"--set {key}: the value is not JSON ({error}); quote strings: {key}='\"text\"'") from None
    return overrides


def placeholder_secrets(config: Mapping[str, Any]) -> dict[str, str]:
    """Placeholders for the secrets the stack file cannot give without the CLI.

    Every encrypted (``secure:``) value gets one, and so does the SSH key when ssh mode needs
    it and the file does not hold it (it is set with ``pulumi config set --secret``). The SSH
    key's is shaped like a key; any other is run through the program as the secret it is, so
    the plan ends as ``pulumi up`` would (the program refuses a secret it would write in plain
    text), never in a traceback.
    """
    placeholders = {key: PLACEHOLDER_SECRET for key, value in sorted(config.items()) if is_encrypted(value)}
    if SSH_KEY_CONFIG in placeholders or (_ssh_mode(config) and SSH_KEY_CONFIG not in config):
        placeholders[SSH_KEY_CONFIG] = PLACEHOLDER_SSH_KEY
    return placeholders


def _ssh_mode(config: Mapping[str, Any]) -> bool:
    macvtap = config.get(MACVTAP_CONFIG)
    return isinstance(macvtap, dict) and macvtap.get("cniInstall") == "ssh"


def placeholder_binary(stack: str, config: Mapping[str, Any], directory: Path) -> tuple[PlaceholderBinary | None, dict[str, Any]]:
    """A stand-in for the CNI binary when ssh mode names one the working tree lacks, and the override that uses it.

    Only a path that is given and missing is replaced: no path at all, or a config the program
    refuses for another reason, is left to the program's own message.
    """
    macvtap = config.get(MACVTAP_CONFIG)
    if not _ssh_mode(config) or not isinstance(macvtap, dict):
        return None, {}
    configured = macvtap.get("cniBinaryPath")
    if not isinstance(configured, str) or not configured or (PROJECT_ROOT / configured).is_file():
        return None, {}
    directory.mkdir(parents=True, exist_ok=True)
    stand_in = directory / PLACEHOLDER_BINARY_NAME
    stand_in.write_bytes(PLACEHOLDER_BINARY)
    return PlaceholderBinary(stack, configured, stand_in), {MACVTAP_CONFIG: {**macvtap, "cniBinaryPath": str(stand_in)}}


def _policy_config(stack: str, given: Path | None) -> tuple[dict[str, Any], str]:
    """The policy config and how the summary names it.

    Without ``--policy-config``, ``policies/config/<stack>.json``; a stack without one runs the
    pack with its documented defaults, as ``pulumi preview --policy-pack policies`` without
    ``--policy-pack-config`` does.
    """
    path, shown = (POLICY_CONFIG_DIR / f"{stack}.json", f"policies/config/{stack}.json") if given is None else (given, str(given))
    if given is None and not path.exists():
        return {}, f"the pack's defaults: no {shown}"
    try:
        return read_policy_config(path, shown), shown
    except PolicyConfigError as error:
        raise UsageError(str(error)) from None


MARKER = ".offline-plan"  # written into DIR so that a later run only ever wipes a directory a plan wrote


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise UsageError(f"refusing to replace {out}: it is not a plan directory (no {MARKER} in it); choose another --out")
