"""The typed stack configuration, parsed and validated once, before any resource exists.

Every problem is reported with its full key path (``kvm-in-a-pod:vms[1].macvtap[0].network``)
and what would be valid, all problems at once, as one ``pulumi.RunError`` (no stack trace).
``parse_stack_config`` is pure so the rules are testable without Pulumi;
``load_stack_config`` is the edge that reads ``pulumi.Config``. The models are in
``components.config.models``, the rules that relate several keys in ``components.config.checks``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from components.config.checks import (
    ValidParts,
    attachment_network_problems,
    check_vm_networks,
    console_password_problems,
    duplicate_mac_problems,
    nad_name_problem,
    platform_problems,
    role_problems,
    run_strategy_problem,
    user_data_without_password,
    vm_problems,
)
from components.config.models import (
    DEFAULT_READY_TIMEOUT_SECONDS,
    DEFAULT_RUN_STRATEGY,
    ENCRYPTED_PLAIN_KEY,
    KNOWN_KEYS,
    NAMESPACE,
    ROLES,
    SECRET_KEYS,
    VM,
    ConfigError,
    KubeVirtConfig,
    LowerDevice,
    MacvtapAttachment,
    MacvtapConfig,
    MultusConfig,
    Node,
    RunStrategy,
    StackConfig,
    Toleration,
    VMKind,
    VmStackConfig,
    console_password_problem,
    dns_label,
    key_path,
    max_network_name_length,
    nad_name,
    nad_settings,
    property_path,
)

# The names the rest of the program uses: `from components.config import StackConfig` etc.
__all__ = [
    "DEFAULT_READY_TIMEOUT_SECONDS",
    "DEFAULT_RUN_STRATEGY",
    "KNOWN_KEYS",
    "NAMESPACE",
    "VM",
    "ConfigError",
    "KubeVirtConfig",
    "LowerDevice",
    "MacvtapAttachment",
    "MacvtapConfig",
    "MultusConfig",
    "Node",
    "RawConfig",
    "RunStrategy",
    "StackConfig",
    "Toleration",
    "VMKind",
    "VmStackConfig",
    "attachment_network_problems",
    "check_vm_networks",
    "console_password_problem",
    "dns_label",
    "duplicate_mac_problems",
    "key_path",
    "load_stack_config",
    "max_network_name_length",
    "nad_name",
    "nad_name_problem",
    "nad_settings",
    "parse_stack_config",
    "property_path",
    "pydantic_problems",
    "read_raw_config",
    "run_strategy_problem",
    "user_data_without_password",
]

_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


# What a missing required key needs, beyond pydantic's "Field required".
_REQUIRED_HINTS: dict[tuple[int | str, ...], str] = {("macvtap",): "is required: at least macvtap.lowerDevices must name a network"}


def pydantic_problems(
    error: ValidationError, present: Mapping[str, Any] | None = None, path: Callable[[tuple[int | str, ...]], str] = key_path
) -> list[tuple[str, str]]:
    """``(path, message)`` for each error of a model, its location written by ``path`` (a stack key path by default).

    A key in ``present`` that pydantic calls missing was refused before validation (an encrypted value) and is left out.
    """
    problems = []
    for item in error.errors():
        location = tuple(item["loc"])
        if item["type"] == "missing" and len(location) == 1 and present is not None and location[0] in present:
            continue  # present but refused before validation (an encrypted value): reported already
        message = item["msg"]
        for prefix in _PYDANTIC_PREFIXES:
            message = message.removeprefix(prefix)
        if item["type"] == "extra_forbidden":
            message = "is not a known key (check the spelling against the README's config reference)"
        elif item["type"] in ("literal_error", "enum"):
            message = f"{item['input']!r} is not allowed; {message[0].lower()}{message[1:]}"
        elif item["type"] == "missing":
            message = _REQUIRED_HINTS.get(location, message)
        problems.append((path(location), message))
    return problems


def parse_stack_config(
    values: Mapping[str, Any],
    *,
    secret_keys: frozenset[str] = frozenset(),
    project_dir: Path = Path("."),
) -> StackConfig | VmStackConfig:
    """Validate the namespace's config values (``key -> parsed JSON value``).

    ``secret_keys`` names the keys the stack stores encrypted; the SSH key and the console password
    must be, and no other key may be. Raises ``ConfigError`` listing every problem of one run: the field errors,
    the role's rules and the cross-checks (references, uniqueness, ssh mode), which run on every
    part that validated on its own.
    """
    problems: list[tuple[str, str]] = []
    role = values.get("role", "all")
    if role not in ROLES:
        # Which keys are allowed depends on the role: nothing else can be checked without one.
        problems.append((key_path(("role",)), f"{role!r} is not allowed; allowed: {', '.join(ROLES)} (default all)"))
        role = "all"
    role_rules = role_problems(role, values)
    misplaced = {path for path, _ in role_rules}
    problems.extend(role_rules)
    checked: dict[str, Any] = {}
    for key in sorted(values):
        if key not in KNOWN_KEYS:
            problems.append((key_path((key,)), f"is not a known key; known keys: {', '.join(KNOWN_KEYS)}"))
        elif key not in SECRET_KEYS and f"{NAMESPACE}:{key}" in secret_keys:
            problems.append((key_path((key,)), ENCRYPTED_PLAIN_KEY.format(key=f"{NAMESPACE}:{key}")))
        elif key_path((key,)) not in misplaced and not (key == "role" and values[key] not in ROLES):
            checked[key] = values[key]
    model: type[StackConfig] | type[VmStackConfig] = VmStackConfig if role == "vms" else StackConfig
    config: StackConfig | VmStackConfig | None = None
    try:
        config = model.model_validate(checked)
    except ValidationError as error:
        # A key the role's rules reported already (a missing platformStack) is not reported twice.
        problems += [problem for problem in pydantic_problems(error, values) if problem[0] not in misplaced]
    parts = ValidParts.of(checked)
    problems += vm_problems(parts)
    problems += console_password_problems(checked, secret_keys)
    if role != "vms":
        problems += platform_problems(parts, secret_keys, project_dir)
    if problems:
        raise ConfigError(problems)
    assert config is not None  # every field validated, or pydantic's error is among the problems
    return config


@dataclass(frozen=True)
class RawConfig:
    values: dict[str, Any]
    secret_keys: frozenset[str]


def read_raw_config() -> RawConfig:
    """The namespace's keys as the engine passed them (structured values are JSON)."""
    import pulumi.runtime.config as runtime_config

    # The language host passes config either through the runtime's settings or through the
    # PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS environment; read both, settings winning.
    all_config = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    all_secret_keys = set(runtime_config.get_config_secret_keys_env()) | set(runtime_config._SECRET_KEYS.get())
    values: dict[str, Any] = {}
    secret_keys: set[str] = set()
    prefix = NAMESPACE + ":"
    for full_key, raw in sorted(all_config.items()):
        if not full_key.startswith(prefix):
            continue
        if full_key in all_secret_keys:
            secret_keys.add(full_key)
        key = full_key[len(prefix) :]
        if key in SECRET_KEYS:
            values[key] = raw  # text as given: a password of digits is not a number
            continue
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return RawConfig(values, frozenset(secret_keys))


def load_stack_config(project_dir: Path = Path(".")) -> StackConfig | VmStackConfig:
    """The edge: read and validate the stack config or stop the program with a RunError."""
    import pulumi

    raw = read_raw_config()
    try:
        return parse_stack_config(raw.values, secret_keys=raw.secret_keys, project_dir=project_dir)
    except ConfigError as error:
        raise pulumi.RunError(str(error)) from None
