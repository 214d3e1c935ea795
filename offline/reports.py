"""The plan's reports: the schema check of every object and the policy pack's verdict, as text and JSON.

Like ``offline.render``, pure functions with sorted, byte-identical output.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from offline.render import describe


@dataclass(frozen=True)
class SchemaResult:
    file: str  # under the plan directory, e.g. manifests/008-...yaml
    identity: tuple[str, str, str]  # kind, namespace, name
    api_version: str
    schema: str | None  # None: not validated
    errors: tuple[tuple[str, str], ...] = ()  # (path, message)
    reason: str = ""  # why it was not validated

    @property
    def status(self) -> str:
        if self.schema is None:
            return "not validated"
        return "invalid" if self.errors else "valid"

    def to_json(self) -> dict[str, Any]:
        kind, namespace, name = self.identity
        return {
            "file": self.file,
            "apiVersion": self.api_version,
            "kind": kind,
            "namespace": namespace,
            "name": name,
            "status": self.status,
            "schema": self.schema,
            "reason": self.reason,
            "errors": [{"path": path, "message": message} for path, message in self.errors],
        }


@dataclass(frozen=True)
class SchemaTotals:
    validated: int
    invalid: int
    errors: int
    not_validated: int


def schema_totals(results: Iterable[SchemaResult]) -> SchemaTotals:
    listed = list(results)
    return SchemaTotals(
        validated=sum(1 for r in listed if r.schema is not None),
        invalid=sum(1 for r in listed if r.errors),
        errors=sum(len(r.errors) for r in listed),
        not_validated=sum(1 for r in listed if r.schema is None),
    )


def schema_report_text(stack: str, sources: Sequence[str], results: Sequence[SchemaResult]) -> str:
    totals = schema_totals(results)
    lines = [
        f"Schema check of stack {stack} (strict: unknown fields are errors)",
        "Schemas: " + "; ".join(sources),
        "",
    ]
    for result in results:
        lines.append(f"{result.status.upper():<14} {result.file}  {describe(result.identity)}")
        if result.schema is not None:
            lines.append(f"               against {result.schema}")
        else:
            lines.append(f"               {result.reason}")
        lines += [f"               {path or '(object)'}: {message}" for path, message in result.errors]
    lines += [
        "",
        f"Totals: {totals.validated} validated ({totals.invalid} invalid, {totals.errors} errors), {totals.not_validated} not validated",
    ]
    return "\n".join(lines) + "\n"


def schema_report_json(stack: str, sources: Sequence[str], results: Sequence[SchemaResult]) -> str:
    totals = schema_totals(results)
    document = {
        "stack": stack,
        "schemas": list(sources),
        "objects": [result.to_json() for result in results],
        "totals": {"validated": totals.validated, "invalid": totals.invalid, "errors": totals.errors, "notValidated": totals.not_validated},
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class PolicySummary:
    """What the policy report shows beyond the violations: the config used and each policy's level."""

    config_source: str
    levels: Mapping[str, str]  # policy name -> enforcement level
    violations: Sequence[Mapping[str, Any]] = field(default_factory=tuple)  # Violation fields
    skipped: Sequence[Mapping[str, Any]] = field(default_factory=tuple)


def policy_report_text(stack: str, pack: str, summary: PolicySummary) -> str:
    mandatory = [v for v in summary.violations if v["enforcement_level"] == "mandatory"]
    lines = [
        f"Policy pack {pack} on stack {stack} (config: {summary.config_source})",
        f"{len(mandatory)} mandatory, {len(summary.violations) - len(mandatory)} advisory violations;"
        f" {len(summary.skipped)} checks skipped",
        "",
        "Policies:",
    ]
    for name, level in summary.levels.items():
        count = sum(1 for v in summary.violations if v["policy"] == name)
        lines.append(f"  {name:<34} {level:<10} {count} violation(s)")
    if summary.violations:
        lines += ["", "Violations:"]
        for violation in summary.violations:
            target = violation["resource_name"] or "(stack)"
            lines.append(f"  [{violation['enforcement_level']}] {violation['policy']} on {target}: {violation['message']}")
    if summary.skipped:
        lines += ["", "Skipped (an unknown value):"]
        lines += [f"  {s['policy']} on {s['urn'] or '(stack)'}: {s['reason']}" for s in summary.skipped]
    return "\n".join(lines) + "\n"
