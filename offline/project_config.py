"""The Pulumi CLI's project-level config rules, applied to stack files without the CLI.

Before ``pulumi preview``/``up`` starts the program, the CLI checks the stack's config against
the ``config:`` block of ``Pulumi.yaml``, and applies that block's defaults. The mock engine
does not run the CLI, so ``offline.engine`` applies these rules itself, and
``tests/test_stack_contract.py`` holds every stack file in the repository to them.

Read from the project file reference, "config options"
(https://www.pulumi.com/docs/iac/concepts/projects/project-file/#config-options), and, where
that page is silent, from the CLI's source (pulumi/pulumi, v3.260 to v3.274):
``sdk/go/common/workspace/project.go`` (``RewriteShorthandConfigValues``, ``Project.Validate``,
``ValidateConfigValue``) and ``pkg/workspace/config.go`` (``mergeConfig``,
``validateStackConfigValues``). The rules:

- A declared name without a namespace (``vmNamespace``) means ``<project>:vmNamespace``; so does
  ``<project>:vmNamespace``. A key in another namespace (``kubernetes:context``) may only carry a
  ``value``: no ``type`` and no ``default``.
- A short-hand declaration (``name: 5``) is a ``default`` for a project key, a ``value`` otherwise.
- A project key declared with neither ``default`` nor ``value`` must be set by every stack
  ("Stack 'dev' is missing configuration values ...").
- A missing key gets the declared default (or value), stored in plain text.
- Only a typed declaration has its value checked, after defaults are applied: ``secret: true``
  demands an encrypted value ("... must be encrypted as it's secret"), so a secret key with a
  plain default fails on every stack that does not set it; then the value must match ``type``.
- Types: ``string``, ``integer``, ``boolean``, ``array`` (with ``items``), and ``object`` (the
  CLI accepts it since pulumi/pulumi#20132; the page lists the first four). A scalar in a stack
  file reaches the check as text: ``5`` and ``true`` are strings, ``"5"`` is an integer and
  ``"true"`` a boolean. A list or map reaches it as JSON (numbers are floats, whole ones count as
  integers).
- A stack key is ``<namespace>:<name>``, the old ``<namespace>:config:<name>``, or a bare
  ``<name>``, which the CLI reads as the project's (``LoadProjectStackBytes``); anything else
  it cannot parse.

One rule is ours, not the CLI's: a stack file that sets one key under two spellings
(``region`` and ``demo:region``) is refused, because the CLI silently keeps one of them.

What cannot be checked here: an encrypted value's type (it needs the stack's passphrase), and
the CLI's own YAML dialect (YAML 1.2; PyYAML reads ``yes`` as a boolean). The CLI stops at its
first problem; these functions list every problem.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offline.stack_file import StackFileError, read_yaml_file

TYPES = ("string", "integer", "boolean", "array", "object")
DECLARATION_ATTRIBUTES = ("type", "items", "description", "secret", "default", "value")
# strconv.Atoi: an optional sign and decimal digits, within int64.
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_INT64 = 1 << 63


class _Encrypted:
    """A ``secure:`` value: its plaintext is unknown without the stack's passphrase."""

    def __repr__(self) -> str:
        return "<encrypted>"


ENCRYPTED = _Encrypted()


@dataclass(frozen=True)
class Declaration:
    """One entry of ``Pulumi.yaml``'s ``config:`` block, short-hand already expanded."""

    name: str  # as written in Pulumi.yaml
    key: str  # the full config key it governs: "kvm-in-a-pod:vmNamespace"
    type: str | None
    items: Any  # {"type": ..., "items": ...} for arrays
    default: Any  # None when absent (the CLI cannot tell `default: null` from no default)
    value: Any
    secret: bool
    ours: bool  # in the project's namespace (only those can be required or typed)

    @property
    def required(self) -> bool:
        """Must every stack set it? A project key with nothing to fall back on."""
        return self.ours and self.default is None and self.value is None

    @property
    def fallback(self) -> Any:
        """What the CLI stores for a stack that does not set the key (``default`` wins)."""
        return self.default if self.default is not None else self.value


@dataclass(frozen=True)
class Project:
    name: str
    declarations: tuple[Declaration, ...]
    problems: tuple[str, ...]  # what the CLI refuses in Pulumi.yaml itself


def project_file(project_dir: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.yml"):
        if (project_dir / name).is_file():
            return project_dir / name
    raise FileNotFoundError(f"no Pulumi.yaml in {project_dir}")


def parse_key(key: str, project_name: str) -> tuple[str, str] | None:
    """``(namespace, name)`` as the CLI reads a stack file's key; None if it cannot."""
    parts = key.split(":")
    if len(parts) == 1:
        return project_name, key
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) == 3 and parts[1] == "config":
        return parts[0], parts[2]
    return None


def full_key(key: str, project_name: str) -> str | None:
    """``namespace:name`` as the CLI resolves a stack file's key (``vms`` -> ``<project>:vms``); None if it cannot."""
    parsed = parse_key(key, project_name)
    return None if parsed is None else f"{parsed[0]}:{parsed[1]}"


def with_overrides(config: Mapping[str, Any], overrides: Mapping[str, Any], project_name: str) -> dict[str, Any]:
    """``config`` with each override set, as ``pulumi config set`` (or ``rm``, for None) would leave it.

    An override replaces the key under whatever spelling the file uses (``vms`` or
    ``<project>:vms``), so a file with bare keys and a full-key override never holds both.
    """
    result = dict(config)
    for key, value in overrides.items():
        target = full_key(key, project_name)
        for written in [k for k in result if full_key(k, project_name) == target]:
            del result[written]
        if value is not None:
            result[key] = value
    return result


def resolved_keys(config: Mapping[str, Any], project_name: str) -> dict[str, Any]:
    """The config with every key as the CLI hands it to the program: ``namespace:name``.

    Keys the CLI cannot parse are left out (``stack_problems`` reports them).
    """
    resolved: dict[str, Any] = {}
    for key, value in config.items():
        target = full_key(key, project_name)
        if target is not None:
            resolved[target] = value
    return resolved


def declared_key(project_name: str, name: str) -> str:
    """The full key a declaration governs: a name without a namespace is the project's."""
    return name if ":" in name else f"{project_name}:{name}"


def load_project(project_dir: Path) -> Project:
    """``Pulumi.yaml`` of ``project_dir``; a file mistake is a StackFileError naming its line."""
    document, _ = read_yaml_file(project_file(project_dir))
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise StackFileError(f"{project_file(project_dir).name}: a project file is a mapping (name:, runtime:, ...)")
    return read_project(document)


def read_project(document: Mapping[str, Any]) -> Project:
    """The declarations of a parsed ``Pulumi.yaml`` and what the CLI would refuse in them."""
    name = str(document.get("name") or "")
    problems: list[str] = []
    if not name:
        problems.append("project is missing a 'name' attribute")
    block = document.get("config")
    if block is None or isinstance(block, str):  # a string is the old stackConfigDir
        return Project(name, (), tuple(problems))
    if not isinstance(block, Mapping):
        return Project(name, (), (*problems, "config must be a map of config keys to values or declarations"))
    declarations = []
    for declared, raw in block.items():
        declaration, declaration_problems = _declaration(name, str(declared), raw)
        problems += declaration_problems
        if declaration is not None:
            declarations.append(declaration)
    return Project(name, tuple(declarations), tuple(problems))


def _declaration(project_name: str, name: str, raw: Any) -> tuple[Declaration | None, list[str]]:
    ours = ":" not in name or name.startswith(project_name + ":")
    if not isinstance(raw, Mapping):
        if not isinstance(raw, str | int | bool | list):
            return None, [f"config {name!r}: a short-hand value must be a string, integer, boolean or array"]
        # RewriteShorthandConfigValues: a default for a project key, a value for any other.
        raw = {"default": raw} if ours else {"value": raw}
    problems = [f"config {name!r}: unknown attribute {attribute!r}" for attribute in raw if attribute not in DECLARATION_ATTRIBUTES]
    declaration = Declaration(
        name=name,
        key=declared_key(project_name, name),
        type=raw.get("type"),
        items=raw.get("items"),
        default=raw.get("default"),
        value=raw.get("value"),
        secret=bool(raw.get("secret", False)),
        ours=ours,
    )
    if declaration.default is not None and declaration.value is not None:
        problems.append(f"project config {name!r} cannot have both a 'default' and 'value' attribute")
    if ours:
        problems += _type_problems(name, declaration.type, declaration.items)
        if (
            declaration.type is not None
            and declaration.default is not None
            and not conforms(declaration.type, declaration.items, declaration.default)
        ):
            problems.append(
                f"The default value specified for configuration key {name!r} is not of the expected type"
                f" {full_type_name(declaration.type, declaration.items)!r}"
            )
    else:
        if declaration.type is not None:
            problems.append(f"Configuration key {name!r} is not namespaced by the project and should not define a type")
        if declaration.default is not None:
            problems.append(f"Configuration key {name!r} is not namespaced by the project and should not define a default value")
        if declaration.value is None:
            problems.append(f"Configuration key {name!r} is namespaced and must provide an attribute 'value'")
    return declaration, problems


def _type_problems(name: str, type_name: Any, items: Any) -> list[str]:
    if type_name is None:
        return []
    if type_name not in TYPES:
        return [f"config {name!r}: type {type_name!r} is not one of {', '.join(TYPES)}"]
    if type_name != "array":
        return []
    if not isinstance(items, Mapping) or "type" not in items:
        return [f"The configuration key {name!r} declares an array but does not specify the underlying type via the 'items' attribute"]
    return _type_problems(name, items["type"], items.get("items"))


def full_type_name(type_name: str, items: Any) -> str:
    """``array<array<string>>`` for nested arrays, as the CLI names them."""
    if isinstance(items, Mapping):
        return f"array<{full_type_name(str(items.get('type')), items.get('items'))}>"
    return type_name


def conforms(type_name: str, items: Any, value: Any) -> bool:
    """``ValidateConfigValue``: does ``value`` (as the CLI holds it) match the declared type?"""
    if value is ENCRYPTED:
        return True  # cannot be known without decrypting; the CLI decrypts first
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return True
        if isinstance(value, float):
            return value.is_integer()
        return isinstance(value, str) and _INTEGER_TEXT.fullmatch(value) is not None and -_INT64 <= int(value) < _INT64
    if type_name == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if type_name == "object":
        return isinstance(value, dict)
    if not isinstance(value, list) or not isinstance(items, Mapping):
        return False
    return all(conforms(str(items.get("type")), items.get("items"), item) for item in value)


def is_encrypted(raw: Any) -> bool:
    """A ``secure:`` value, or a list or map holding one (the CLI treats the whole key as secret)."""
    if isinstance(raw, Mapping):
        return set(raw) == {"secure"} or any(is_encrypted(item) for item in raw.values())
    if isinstance(raw, list):
        return any(is_encrypted(item) for item in raw)
    return False


def cli_value(raw: Any) -> Any:
    """A stack-file value as the CLI's type check sees it (``config.Value``).

    A scalar is stored as text (``5`` -> ``"5"``); a list or map is JSON, read back with
    floats for numbers; a ``secure:`` leaf is unknown.
    """
    if isinstance(raw, Mapping) and set(raw) == {"secure"}:
        return ENCRYPTED
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float | str):
        return _json_number(raw) if isinstance(raw, int | float) else raw
    return _as_json_object(raw)


def _json_number(number: float) -> str:
    return str(int(number)) if float(number).is_integer() and abs(number) < 1e21 else json.dumps(number)


def _as_json_object(raw: Any) -> Any:
    if isinstance(raw, Mapping):
        if set(raw) == {"secure"}:
            return ENCRYPTED
        return {str(key): _as_json_object(item) for key, item in raw.items()}
    if isinstance(raw, list):
        return [_as_json_object(item) for item in raw]
    if isinstance(raw, bool) or raw is None or isinstance(raw, str):
        return raw
    if isinstance(raw, int | float):
        return float(raw)  # encoding/json reads every number into a float64
    return str(raw)


def stack_problems(project: Project, stack: str, config: Mapping[str, Any]) -> list[str]:
    """What ``pulumi preview -s <stack>`` would refuse in this stack config (raw YAML values)."""
    problems = [
        f"could not parse {key} as a configuration key (configuration keys should be of the form `<namespace>:<name>`)"
        for key in config
        if parse_key(key, project.name) is None
    ]
    spellings: dict[str, list[str]] = {}
    for key in config:
        parsed = parse_key(key, project.name)
        if parsed is not None:
            spellings.setdefault(f"{parsed[0]}:{parsed[1]}", []).append(key)
    problems += [
        f"sets {full} more than once ({' and '.join(written)}); the CLI keeps only one of them"
        for full, written in sorted(spellings.items())
        if len(written) > 1
    ]
    keys = _full_keys(project.name, config)
    missing = sorted(d.name for d in project.declarations if d.required and d.key not in keys)
    if missing:
        problems.append(missing_values_message(stack, missing))
    merged = with_project_defaults(project, config)
    merged_keys = _full_keys(project.name, merged)
    for declaration in sorted(project.declarations, key=lambda d: d.name):
        if declaration.type is None or declaration.key not in merged_keys:
            continue  # untyped declarations are never checked, not even `secret`
        raw = merged[merged_keys[declaration.key]]
        if declaration.secret and not is_encrypted(raw):
            problems.append(f"Stack {stack!r} with configuration key {declaration.name!r} must be encrypted as it's secret")
        elif not conforms(declaration.type, declaration.items, cli_value(raw)):
            problems.append(
                f"Stack {stack!r} with configuration key {declaration.name!r} must be of type"
                f" {full_type_name(declaration.type, declaration.items)!r}"
            )
    return problems


def missing_values_message(stack: str, names: list[str]) -> str:
    quoted = [f"'{name}'" for name in sorted(names)]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
    return f"Stack {stack!r} is missing configuration value{'s' if len(quoted) > 1 else ''} {listed}"


def with_project_defaults(project: Project, config: Mapping[str, Any]) -> dict[str, Any]:
    """The stack config plus each declared default (or value) the stack does not set, as the CLI merges them."""
    merged = dict(config)
    keys = _full_keys(project.name, config)
    for declaration in project.declarations:
        if declaration.key not in keys and declaration.fallback is not None:
            merged[declaration.key] = declaration.fallback
    return merged


def _full_keys(project_name: str, config: Mapping[str, Any]) -> dict[str, str]:
    """``namespace:name`` -> the key as written (bare, or the old ``ns:config:name`` form)."""
    full: dict[str, str] = {}
    for key in config:
        parsed = parse_key(key, project_name)
        if parsed is not None:
            full[f"{parsed[0]}:{parsed[1]}"] = key
    return full
