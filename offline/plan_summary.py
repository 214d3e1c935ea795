"""The offline plan's stdout: what it rendered, what stood in for what, and, last, what it could not check.

The last lines are what a user must not miss: every object that went unvalidated, grouped by why,
and the command that fixes it. ``--strict`` (``make plan STRICT=1``) turns them into a failure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from offline import render, reports
from offline.engine import Recording
from offline.plan_inputs import PlanInputs
from offline.schema_source import UPSTREAM_HOSTS, Obtained

if TYPE_CHECKING:
    from offline.plan import Plan

VM_KINDS = ("VirtualMachineInstance", "VirtualMachine")


def summary(stack: str, out: Path, recording: Recording, inputs: PlanInputs, plan: Plan, seconds: float) -> str:
    kinds = Counter(render.short_type(r.type) for r in recording.resources if r.custom or render.is_manifest_reference(r))
    components = sum(1 for r in recording.resources if not r.custom and not render.is_manifest_reference(r))
    vms = sorted(
        render.describe(render.object_identity(obj)).split(" ", 1)[1] for obj in plan.objects.values() if obj.get("kind") in VM_KINDS
    )
    totals = reports.schema_totals(plan.schema_results)
    mandatory = len(plan.policy_report.mandatory_violations)
    lines = [f"Offline plan of stack {stack} -> {out}"]
    if inputs.secret_values:
        lines.append(
            f"  secret: {', '.join(sorted(inputs.secret_values))} is not readable from Pulumi.{stack}.yaml "
            "(pulumi config set --secret); planned with a placeholder value, never written"
        )
    for binary in inputs.binaries:
        whose = "" if binary.stack == stack else f" of Pulumi.{binary.stack}.yaml"
        lines.append(
            f"  cniBinaryPath{whose}: {binary.configured} is not a file here; planned with a placeholder binary (sha256"
            f" {binary.sha256[:16]}...). pulumi up -s {binary.stack} needs the macvtap CNI binary at {binary.configured}"
            ' (README, "Stacks", says how to get it)'
        )
    if inputs.platform is not None:
        lines.append(
            f"  platform: {inputs.platform.reference} read from an offline recording of Pulumi.{inputs.platform.stack}.yaml"
            " (what pulumi up of that stack exports)"
        )
    lines += [
        f"  resources: {len(recording.resources)} ({components} components; "
        + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        + ")",
        f"  nodes: {', '.join(plan.nodes) if plan.nodes else 'none (no remote commands)'}",
        f"  VMs: {', '.join(vms) if vms else 'none'}",
        f"  schemas: {totals.validated} validated, {totals.errors} errors in {totals.invalid} objects,"
        f" {totals.not_validated} not validated",
        *(f"  upstream {got.describe()}" for got in plan.upstream),
        f"  policies: {mandatory} mandatory, {len(plan.policy_report.violations) - mandatory} advisory violations ({inputs.policy_source})",
    ]
    for file, notes in sorted(plan.transform_notes.items()):
        lines += [f"  {file}: transform {note.name} {note.effect}" for note in notes]
    lines += [
        f"  secrets: redacted {plan.redacted} secret value(s) as {render.SECRET_TEXT}",
        f"  took {seconds:.2f}s",
        *not_validated_lines(plan.schema_results, plan.upstream, offline=inputs.fetch.offline),
    ]
    return "\n".join(lines)


def not_validated_lines(results: Sequence[reports.SchemaResult], upstream: Sequence[Obtained], *, offline: bool) -> list[str]:
    """The summary's last lines when anything went unvalidated: how many, why, and how to fix it."""
    missing = [result for result in results if result.schema is None]
    if not missing:
        return []
    lines = [f"NOT VALIDATED: {len(missing)} of {len(results)} objects (schema-report.txt lists each):"]
    lines += [f"  {got.label}: {got.problem}" for got in upstream if got.content is None]
    unexplained = Counter(result.reason.removeprefix("not validated: ") for result in missing if not _from_upstream(result, upstream))
    lines += [f"  {count} object(s): {reason}" for reason, count in sorted(unexplained.items())]
    hosts = " and ".join(UPSTREAM_HOSTS)
    if any(got.content is None for got in upstream):
        how = (
            "run `make plan` without OFFLINE=1 where " + hosts + " can be reached (the files are then cached)"
            if offline
            else f"run `make plan` where {hosts} can be reached (the files are then cached), or `make plan MIRROR=URL`"
        )
        lines.append(f"  to validate them: {how}; `make plan STRICT=1` fails while anything is not validated")
    else:
        lines.append("  `make plan STRICT=1` fails while anything is not validated")
    return lines


def _from_upstream(result: reports.SchemaResult, upstream: Sequence[Obtained]) -> bool:
    """Is the object unvalidated because of an upstream file listed above (by its project and version, or its problem)?"""
    return any(
        got.content is None and (f"{got.artifact.project} {got.version}" in result.reason or got.problem in result.reason)
        for got in upstream
    )
