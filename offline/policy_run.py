"""Run the ``macvtap-guardrails`` policies on a ``Recording``, as ``pulumi preview --policy-pack`` would.

The one conversion from what ``offline.engine`` recorded to what policies see, shared by the
offline plan and the tests. It follows the CLI and pulumi_policy's analyzer:

- config: ``pulumi/pkg/resource/analyzer/config.go`` (``ReconcilePolicyPackConfig``): schema
  defaults (a knob without one stays absent), then ``"all"``'s enforcement level, then each policy's entry (a level string, or
  ``{"enforcementLevel"?, <knob>: value}``); the merged knobs are checked against the schema.
  Knobs reach policies through a protobuf Struct, so integers arrive as floats. Stricter than
  the CLI: an unknown policy or knob name is an error here (the CLI ignores it), so a typo in
  ``policies/config/<stack>.json`` cannot silently fall back to a default.
- resources: props are the recorded inputs with secrets unwrapped, wrapped in pulumi_policy's
  unknown-checking proxy; parents, dependencies and property dependencies are the resolved
  ``PolicyResource`` objects (pulumi_policy/policy.py ``AnalyzeStack``). Providers are left
  out: no policy reads them, and default providers are not recorded.
- enforcement: ``disabled`` policies do not run, ``remediate`` reports as ``mandatory``; a
  policy that reads an unknown value is skipped with a note, as the CLI does in preview.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from offline.engine import PROJECT_ROOT, RecordedResource, Recording, unwrap_secrets
from policies.guardrails import PACK_NAME, POLICIES

POLICY_CONFIG_DIR = PROJECT_ROOT / "policies" / "config"
_LEVELS = {level.value: level for level in EnforcementLevel}


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement_level: str  # "mandatory" or "advisory"
    urn: str | None  # None: the stack as a whole
    resource_name: str | None
    message: str


@dataclass(frozen=True)
class SkippedCheck:
    """A policy that could not run on a resource (or the stack) because it read an unknown value."""

    policy: str
    urn: str | None
    reason: str


@dataclass(frozen=True)
class PolicyReport:
    stack: str
    pack: str
    violations: tuple[Violation, ...]
    skipped: tuple[SkippedCheck, ...]

    @property
    def mandatory_violations(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement_level == EnforcementLevel.MANDATORY.value]

    def of_policy(self, name: str) -> list[Violation]:
        return [v for v in self.violations if v.policy == name]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "pack": self.pack,
            "violations": [vars(v) for v in self.violations],
            "mandatoryViolations": len(self.mandatory_violations),
            "skipped": [vars(s) for s in self.skipped],
        }


@dataclass(frozen=True)
class PolicySettings:
    """One policy's reconciled config: its enforcement level and its knobs, defaults filled in."""

    enforcement_level: EnforcementLevel
    properties: dict[str, Any]


def policy_config_file(stack: str) -> Path:
    return POLICY_CONFIG_DIR / f"{stack}.json"


def load_policy_config(stack: str) -> dict[str, Any]:
    """``policies/config/<stack>.json``, the file given to ``--policy-pack-config``."""
    loaded = json.loads(policy_config_file(stack).read_text())
    if not isinstance(loaded, dict):
        raise TypeError(f"{policy_config_file(stack).name}: expected a JSON object of policy names")
    return loaded


class PolicyConfigError(Exception):
    """A policy config file that cannot be used; the message is one line naming the file."""


def read_policy_config(path: Path, shown: str) -> dict[str, Any]:
    """A ``--policy-pack-config`` file, checked as the pack will read it; ``shown`` names it in errors.

    One line per mistake, naming the file (and the line and column of a JSON error) and what
    the file must hold.
    """
    try:
        loaded = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise PolicyConfigError(f"policy config {shown}: no such file") from None
    except OSError as error:
        raise PolicyConfigError(f"policy config {shown}: cannot be read ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise PolicyConfigError(f"policy config {shown}: byte {error.start} is not UTF-8 text; save the file as UTF-8") from None
    except json.JSONDecodeError as error:
        raise PolicyConfigError(
            f"policy config {shown}:{error.lineno}:{error.colno}: not valid JSON: {error.msg};"
            ' it holds one JSON object, e.g. {"macvtap-capacity": {"nodeCount": 2}}'
        ) from None
    if not isinstance(loaded, dict):
        raise PolicyConfigError(
            f'policy config {shown}: expected a JSON object of policy names, e.g. {{"macvtap-capacity": "advisory"}};'
            f" found {type(loaded).__name__}"
        )
    try:
        reconcile_config(loaded)
    except (ValueError, TypeError) as error:
        raise PolicyConfigError(f"policy config {shown}: {error}") from None
    return loaded


def reconcile_config(policy_config: Mapping[str, Any], policies: Sequence[Policy] = POLICIES) -> dict[str, PolicySettings]:
    """Each policy's enforcement level and knobs, as the CLI hands them to the analyzer."""
    known = {policy.name: policy for policy in policies}
    given: dict[str, tuple[EnforcementLevel | None, dict[str, Any]]] = {}
    for name, value in policy_config.items():
        if name != "all" and name not in known:
            raise ValueError(f"policy config names unknown policy {name!r}; the pack has: {', '.join(known)}")
        given[name] = _parse_entry(name, value)
    all_level = given.get("all", (None, {}))[0]
    settings: dict[str, PolicySettings] = {}
    for name, policy in known.items():
        schema = policy.config_schema.properties if policy.config_schema else {}
        level, knobs = given.get(name, (None, {}))
        properties = {key: spec["default"] for key, spec in schema.items() if "default" in spec}
        for key, value in knobs.items():
            if key not in schema:
                raise ValueError(f"{name}: unknown config knob {key!r}; it has: {', '.join(schema) or 'none'}")
            properties[key] = value
        for key, value in properties.items():
            _check_knob(name, key, value, schema[key])
        settings[name] = PolicySettings(
            level or all_level or policy.enforcement_level or EnforcementLevel.ADVISORY,
            # Policy config travels as a protobuf Struct: every number becomes a float.
            json.loads(json.dumps(properties), parse_int=float),
        )
    return settings


def _parse_entry(name: str, value: Any) -> tuple[EnforcementLevel | None, dict[str, Any]]:
    if isinstance(value, str):
        return _level(name, value), {}
    if not isinstance(value, dict):
        raise TypeError(f"{name}: {value!r} is not a valid value; must be a string or object")
    knobs = dict(value)
    level = knobs.pop("enforcementLevel", None)
    return (None if level is None else _level(name, level)), knobs


def _level(name: str, value: Any) -> EnforcementLevel:
    if value not in _LEVELS:
        raise ValueError(f"{name}: {value!r} is not a valid enforcement level ({', '.join(_LEVELS)})")
    return _LEVELS[value]


def _check_knob(policy: str, key: str, value: Any, spec: Mapping[str, Any]) -> None:
    """The JSON-schema keywords the pack's config schemas use: type, minimum, pattern."""
    where = f"{policy}: config knob {key}={value!r}"
    kind = spec.get("type")
    if kind == "integer" and (isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value)):
        raise ValueError(f"{where} is not an integer")
    if kind == "string" and not isinstance(value, str):
        raise ValueError(f"{where} is not a string")
    if "minimum" in spec and value < spec["minimum"]:
        raise ValueError(f"{where} is below the minimum {spec['minimum']}")
    if "pattern" in spec and not re.search(spec["pattern"], value):
        raise ValueError(f"{where} does not match {spec['pattern']}")


def to_policy_resources(recording: Recording) -> list[PolicyResource]:
    """The recorded resources as the analyzer's ``PolicyResource`` graph, in registration order."""
    by_urn: dict[str, PolicyResource] = {}
    for recorded in recording.resources:
        by_urn[recorded.urn] = PolicyResource(
            recorded.type,
            unknown_checking_proxy(unwrap_secrets(dict(recorded.inputs))),
            recorded.urn,
            recorded.name,
            _options(recorded),
            None,
            None,
            [],
            {},
        )
    for recorded in recording.resources:
        resource = by_urn[recorded.urn]
        resource.parent = by_urn.get(recorded.parent)
        resource.dependencies = [by_urn[urn] for urn in recorded.dependencies if urn in by_urn]
        resource.property_dependencies = {
            key: [by_urn[urn] for urn in urns if urn in by_urn] for key, urns in recorded.property_dependencies.items()
        }
    return list(by_urn.values())


def _options(recorded: RecordedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=recorded.parent or None,
    )


def run_policies(
    recording: Recording,
    policy_config: Mapping[str, Any],
    *,
    policies: Sequence[Policy] = POLICIES,
) -> PolicyReport:
    """Every resource policy on every resource, then every stack policy once."""
    settings = reconcile_config(policy_config, policies)
    resources = to_policy_resources(recording)
    names = {resource.urn: resource.name for resource in resources}
    violations: list[Violation] = []
    skipped: list[SkippedCheck] = []

    def reporter(policy: Policy, level: EnforcementLevel, default_urn: str | None) -> ReportViolation:
        def report(message: str, urn: str | None = None) -> None:
            # Resource policies' urn argument is ignored, as in the analyzer.
            target = default_urn if default_urn is not None else urn
            violations.append(Violation(policy.name, level.value, target, names.get(target or ""), message))

        return report

    for policy in policies:
        level = settings[policy.name].enforcement_level
        if level == EnforcementLevel.DISABLED:
            continue
        if level == EnforcementLevel.REMEDIATE:
            level = EnforcementLevel.MANDATORY
        config = settings[policy.name].properties
        if isinstance(policy, ResourceValidationPolicy):
            # By URN, not registration order (which varies between runs): a stable report.
            for resource in sorted(resources, key=lambda r: r.urn):
                args = ResourceValidationArgs(
                    resource.resource_type,
                    resource.props,
                    resource.urn,
                    resource.name,
                    resource.opts,
                    resource.provider,
                    dict(config),
                )
                try:
                    policy.validate(args, reporter(policy, level, resource.urn))
                except UnknownValueError as error:
                    skipped.append(SkippedCheck(policy.name, resource.urn, error.message))
        elif isinstance(policy, StackValidationPolicy):
            try:
                policy.validate(StackValidationArgs(resources, dict(config)), reporter(policy, level, None))
            except UnknownValueError as error:
                skipped.append(SkippedCheck(policy.name, None, error.message))
    return PolicyReport(recording.stack, PACK_NAME, tuple(violations), tuple(skipped))
