"""A stack's config as the Pulumi CLI hands it to the program, read from its stack file without the CLI.

``offline.stack_file`` reads the file (one line per file mistake); ``offline.project_config``
holds the CLI's rules (key resolution, ``Pulumi.yaml``'s ``config:`` block). This module puts them
together for the recording engine, the offline plan and the tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from offline.project_config import (
    is_encrypted,
    load_project,
    resolved_keys,
    stack_problems,
    with_overrides,
    with_project_defaults,
)
from offline.stack_file import StackFileError, read_stack_file

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROJECT_NAME = "kvm-in-a-pod"


def stack_file(stack: str, project_dir: Path = PROJECT_ROOT) -> Path:
    return project_dir / f"Pulumi.{stack}.yaml"


class StackConfigError(Exception):
    """A stack config the Pulumi CLI would refuse before starting the program, or one the
    engine cannot read (an encrypted value it was not given)."""


class StackFileUnusableError(StackConfigError):
    """A stack or project file with a YAML mistake; the message is one line naming the file and place."""


def stack_config(stack: str, project_dir: Path = PROJECT_ROOT, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``Pulumi.<stack>.yaml`` as the CLI hands it to the program, before decryption.

    The file's ``config:`` (``offline.stack_file``) with ``overrides`` applied as ``pulumi config
    set`` would apply them (``None`` removes a key), checked against ``Pulumi.yaml``'s ``config:``
    block (``offline.project_config``), whose defaults then fill the keys the stack does not set.
    Every key is resolved as the CLI resolves it: a bare ``vms`` is ``kvm-in-a-pod:vms``, the old
    ``kvm-in-a-pod:config:vms`` too. Values are as in the file (``secure:`` values still encrypted).
    Raises StackConfigError (StackFileUnusableError for a file mistake).
    """
    path = stack_file(stack, project_dir)
    if not path.exists():
        raise FileNotFoundError(f"no stack file {path.name} in {project_dir}")
    try:
        project = load_project(project_dir)
        raw = with_overrides(read_stack_file(path), overrides or {}, project.name)
    except StackFileError as error:
        raise StackFileUnusableError(str(error)) from None
    problems = [*project.problems, *stack_problems(project, stack, raw)]
    if problems:
        raise StackConfigError("validating stack config: " + "; ".join(problems))
    return resolved_keys(with_project_defaults(project, raw), project.name)


def load_stack_config(
    stack: str,
    project_dir: Path = PROJECT_ROOT,
    secret_values: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """Read ``Pulumi.<stack>.yaml`` into the runtime's config form: ``full key -> string``.

    The values of ``stack_config``, as the CLI passes them to the program: structured values as
    JSON, scalars as text, and a key with no value as "" (the CLI warns that it treats null as
    an empty string, ``checkForEmptyConfig``). An encrypted value (``secure:``, also inside a list
    or map) cannot be decrypted without the CLI, so its plain value must come from
    ``secret_values``; keys given there are marked secret whether or not the file names them.
    """
    secret_values = dict(secret_values or {})
    config: dict[str, str] = {}
    for key, value in stack_config(stack, project_dir, overrides).items():
        if is_encrypted(value):
            if key not in secret_values:
                name = stack_file(stack, project_dir).name
                raise StackConfigError(f"{key} is encrypted in {name} and cannot be decrypted without the Pulumi CLI; pass its value")
            continue
        config[key] = "" if value is None else value if isinstance(value, str) else json.dumps(value)
    for key, value in secret_values.items():
        config[key] = value
    return config, sorted(secret_values)
