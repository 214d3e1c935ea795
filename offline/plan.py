"""The offline plan: what ``pulumi up`` would do to a stack, rendered without a cluster or the CLI.

Usage (``make plan`` runs it for STACK=dev)::

    python -m offline.plan STACK --out DIR [--schemas DIR | --offline | --mirror URL] [--policy-config FILE]
        [--set KEY=JSON ...] [--platform-set KEY=JSON ...] [--strict]

Runs the real ``__main__.py`` with the real ``Pulumi.<STACK>.yaml`` under the recording engine
(``offline.engine``), then wipes DIR and writes:

- ``manifests/NNN-<kind>-<namespace>-<name>.yaml``: every Kubernetes object, numbered in apply
  order (dependencies first, ties by URN); ``NNN-remote-<name>.yaml`` holds a remote manifest's
  objects after its transforms, or ``NNN-remote-<name>.txt`` names it (and why it could not be
  had); ``NNN-local-<name>.yaml`` is a local manifest's objects after the recorded transforms;
- ``nodes/<node>.sh`` (ssh mode): the exact commands run on each node, private key redacted;
- ``graph.mmd``: the dependency graph (mermaid), components as subgraphs;
- ``schema-report.txt|json``: each object checked strictly (``offline.schema_check``) against
  kubernetes-validate's schemas for the core kinds and, for KubeVirt kinds and NADs, the
  schemas in ``--schemas`` or else upstream's at the stack's versions (``offline.schema_source``:
  the user's cache, else a download; ``--offline`` never downloads, ``--mirror`` replaces the
  upstream host);
- ``policy-report.txt|json``: the policy pack under ``policies/config/<STACK>.json``
  (or ``--policy-config``); a stack without that file runs the pack with its defaults.

``--set KEY=JSON`` replaces a config key (``--set 'kvm-in-a-pod:macvtap={...}'``); ``null``
removes it. A stack with role vms reads its platform through a StackReference: the platform stack
it names is recorded first, from its own stack file in this project, and its exports are what the
reference reads (``offline.platform_stack``); ``--platform-set`` replaces keys of that stack's config.
A secret the stack file cannot give, and an ssh-mode CNI binary the working tree lacks, are
planned with stand-ins (``offline.plan_inputs``), each said on stdout; every secret is written
as ``[secret]``, and a final scan of every written file fails the run if one still appears. The
summary (``offline.plan_summary``) ends with what could not be validated and how to fix that.

Exit status: 0 clean; 1 a schema error or a mandatory policy violation (named on stderr), or,
with ``--strict``, any object not validated; 2 a usage, file or config error, one line (a config
error prints the Pulumi CLI's config-check message or the program's RunError message, as
``pulumi up``).
The files are byte-identical across runs; only stdout shows the time taken.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from offline import remote_manifest, render, reports
from offline.engine import PROJECT_NAME, PROJECT_ROOT, RecordedResource, Recording, StackConfigError, record_stack
from offline.plan_inputs import MARKER, PlaceholderBinary, PlanInputs, UsageError, read_inputs
from offline.plan_summary import summary
from offline.platform_stack import PlatformStackError
from offline.policy_run import PolicyReport, reconcile_config, run_policies
from offline.schema_check import SchemaError, SchemaLoadError, Schemas, validate_object
from offline.schema_source import UPSTREAM_HOSTS, Obtained, Upstream, schemas_by_version, upstream_versions

EXIT_FAILED = 1
EXIT_USAGE = 2
NODES_CONFIG = f"{PROJECT_NAME}:nodes"
# Secret fragments shorter than this are not searched for (too many false matches).
MIN_SECRET_FRAGMENT = 8


def main(argv: Sequence[str] | None = None) -> int:
    started = time.monotonic()
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # argparse has printed the usage error (or --help)
        return int(exit_.code or 0)
    with tempfile.TemporaryDirectory(prefix="kvm-in-a-pod-plan-") as scratch:
        try:
            inputs = read_inputs(args, Path(scratch))
        except (UsageError, SchemaLoadError, PlatformStackError, StackConfigError) as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_USAGE
        try:
            stack_outputs = {inputs.platform.reference: inputs.platform.outputs} if inputs.platform else None
            recording = record_stack(
                args.stack, config_overrides=inputs.overrides, secret_values=inputs.secret_values, stack_outputs=stack_outputs
            )
        except (pulumi.RunError, StackConfigError) as error:
            # As `pulumi up` shows it (the CLI's own config check, or the program's): the message, no stack trace.
            print(f"error: {error}", file=sys.stderr)
            return EXIT_USAGE
    recording = shown_as_configured(recording, inputs.binaries)
    plan = build_plan(args.stack, recording, inputs)
    out: Path = args.out
    _write(out, plan.files)
    leaked = find_leaks(out, inputs.secret_values.values(), render.secret_strings(recording))
    if leaked:
        shutil.rmtree(out)
        print(f"error: a secret value appeared in {', '.join(leaked)}; removed {out}. This is a bug in offline.plan.", file=sys.stderr)
        return EXIT_FAILED
    print(summary(args.stack, out, recording, inputs, plan, time.monotonic() - started))
    failures = plan.failures(strict=args.strict)
    for line in failures:
        print(line, file=sys.stderr)
    return EXIT_FAILED if failures else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m offline.plan", description="Render a stack's offline plan into a directory.")
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--out", type=Path, required=True, help="output directory (wiped and recreated)")
    parser.add_argument("--schemas", type=Path, help="directory with kubevirt-*swagger*.json and CRD *.yaml schemas (no download)")
    parser.add_argument("--offline", action="store_true", help="never download: use only the cache (and --schemas)")
    parser.add_argument(
        "--mirror", metavar="URL", help=f"download from URL instead of {' and '.join(UPSTREAM_HOSTS)}, with the same paths below it"
    )
    parser.add_argument("--policy-config", type=Path, help="policy pack config (default policies/config/<stack>.json)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="replace a config key (null removes it)")
    parser.add_argument(
        "--platform-set", action="append", default=[], metavar="KEY=JSON", help="role vms: replace a key of the platform stack's config"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when any object could not be validated (make plan STRICT=1)")
    return parser


def shown_as_configured(recording: Recording, binaries: Sequence[PlaceholderBinary]) -> Recording:
    """The recording with each stand-in binary's path shown as the config names it (``build/macvtap``)."""
    if not binaries:
        return recording
    paths = {str(binary.stand_in): binary.configured for binary in binaries}

    def shown(value: Any) -> Any:
        if isinstance(value, str):
            for stand_in, configured in paths.items():
                value = value.replace(stand_in, configured)
            return value
        if isinstance(value, dict):
            return {key: shown(item) for key, item in value.items()}
        if isinstance(value, list):
            return [shown(item) for item in value]
        return value

    resources = [dataclasses.replace(resource, inputs=shown(dict(resource.inputs))) for resource in recording.resources]
    return dataclasses.replace(recording, resources=resources, outputs=shown(recording.outputs))


def _write(out: Path, files: Mapping[str, str]) -> None:
    if out.exists():
        shutil.rmtree(out)
    for relative, text in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def find_leaks(out: Path, *secret_sets: Iterable[str]) -> list[str]:
    """Files under ``out`` that contain a secret, or a line of a multi-line one."""
    fragments: set[str] = set()
    for secrets in secret_sets:
        for secret in secrets:
            for piece in [secret, *secret.splitlines()]:
                if len(piece.strip()) >= MIN_SECRET_FRAGMENT:
                    fragments.add(piece.strip())
    leaked = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8", errors="replace")
        if any(fragment in text for fragment in fragments):
            leaked.append(str(path.relative_to(out)))
    return leaked


# --- the plan -----------------------------------------------------------------------------


@dataclass
class Plan:
    files: dict[str, str]  # path under DIR -> content
    objects: dict[str, dict[str, Any]]  # URN -> the Kubernetes object as rendered
    schema_results: list[reports.SchemaResult]
    policy_report: PolicyReport
    redacted: int
    nodes: list[str]
    transform_notes: dict[str, list[render.TransformNote]]  # manifest file -> notes
    upstream: list[Obtained]  # the upstream files the plan asked for, in order

    def failures(self, *, strict: bool = False) -> list[str]:
        """What fails the run, one line each: schema errors, mandatory violations and (strict) every unvalidated object."""
        lines = [
            f"schema error: {result.file} ({render.describe(result.identity)}): {path or '(object)'}: {message}"
            for result in self.schema_results
            for path, message in result.errors
        ]
        lines += [
            f"policy violation: {v.policy} (mandatory) on {v.resource_name or 'the stack'}: {v.message}"
            for v in self.policy_report.mandatory_violations
        ]
        if strict:
            lines += [
                f"not validated (--strict): {result.file} ({render.describe(result.identity)}): "
                + result.reason.removeprefix("not validated: ")
                for result in self.schema_results
                if result.schema is None
            ]
        return lines


def build_plan(stack: str, recording: Recording, inputs: PlanInputs) -> Plan:
    upstream = Upstream(inputs.fetch)
    versions = upstream_versions(inputs.config)
    schemas = inputs.local_schemas if inputs.local_schemas is not None else schemas_by_version(upstream, versions)
    order = render.apply_order(recording)
    redactor = render.Redactor()
    files: dict[str, str] = {MARKER: f"offline plan of stack {stack}\n"}
    schema_results: list[reports.SchemaResult] = []
    notes: dict[str, list[render.TransformNote]] = {}

    manifests = [r for r in order if render.is_kubernetes_object(r) or render.is_manifest_reference(r)]
    width = max(3, len(str(len(manifests))))
    objects: dict[str, dict[str, Any]] = {}
    names: dict[str, str] = {}
    fetched: dict[str, Obtained | None] = {}  # URN of a remote manifest -> its file, None for a custom URL
    for index, resource in enumerate(manifests, 1):
        number = f"{index:0{width}d}"
        if render.is_kubernetes_object(resource):
            objects[resource.urn] = render.kubernetes_object(resource, redactor)
            kind, namespace, name = render.object_identity(objects[resource.urn])
            names[resource.urn] = f"manifests/{number}-{kind.lower()}-{namespace or '_cluster'}-{name}.yaml"
        else:
            source = str(resource.inputs.get("file", ""))
            remote = source.startswith(("https://", "http://"))
            if remote:
                fetched[resource.urn] = upstream.remote_manifest(source, versions)
            shown = not remote or remote_manifest.can_show(fetched[resource.urn])
            names[resource.urn] = f"manifests/{number}-{'remote' if remote else 'local'}-{resource.name}.{'yaml' if shown else 'txt'}"
    by_urn = {r.urn: r for r in recording.resources}

    def after(resource: RecordedResource) -> list[str]:
        deps = [by_urn[urn] for urn in set(resource.dependencies) if urn in by_urn]
        return sorted(names.get(dep.urn, f"{dep.name} ({render.short_type(dep.type)})").removeprefix("manifests/") for dep in deps)

    for resource in manifests:
        file = names[resource.urn]
        number = file.removeprefix("manifests/").split("-", 1)[0]
        if resource.urn in objects:
            obj = objects[resource.urn]
            files[file] = render.manifest_text(number, resource, obj, after(resource))
            schema_results.append(_check(file, obj, schemas))
            continue
        source = str(resource.inputs.get("file", ""))
        shown = resource.urn not in fetched or remote_manifest.can_show(fetched[resource.urn])
        notes[file] = remote_manifest.transform_notes(recording, resource, applied=shown)
        if resource.urn in fetched:
            remote_file = remote_manifest.show(number, resource, recording, fetched[resource.urn], notes[file], after(resource))
            files[file] = remote_file.text
            if remote_file.unavailable:
                reason = f"not validated: {remote_file.unavailable}"
                schema_results.append(reports.SchemaResult(file, ("ConfigFile", "", resource.name), "", None, reason=reason))
            schema_results += [_check(file, render.json_numbers(obj), schemas) for obj in remote_file.objects]
        else:
            local_file = remote_manifest.show_local(
                number, resource, recording, source, (PROJECT_ROOT / source).read_bytes(), notes[file], after(resource)
            )
            files[file] = local_file.text
            schema_results += [_check(file, render.json_numbers(obj), schemas) for obj in local_file.objects]

    node_names = _node_names(inputs.config)
    steps: dict[str, list[render.NodeStep]] = {}
    for resource in order:
        if render.is_remote(resource):
            step = render.node_step(resource, redactor, after(resource))
            node = node_names.get((str(step.connection.get("host")), step.connection.get("port", 22)), str(step.connection.get("host")))
            steps.setdefault(node, []).append(step)
    for node, node_steps in sorted(steps.items()):
        files[f"nodes/{node}.sh"] = render.node_script(stack, node, node_steps)

    labels = {r.urn: _label(r, objects.get(r.urn), names.get(r.urn)) for r in recording.resources}
    files["graph.mmd"] = render.mermaid_graph(recording, labels)

    sources = [schemas.core_source, *schemas.files]
    files["schema-report.txt"] = reports.schema_report_text(stack, sources, schema_results)
    files["schema-report.json"] = reports.schema_report_json(stack, sources, schema_results)

    report = run_policies(recording, inputs.policy_config)
    levels = {name: settings.enforcement_level.value for name, settings in reconcile_config(inputs.policy_config).items()}
    policy_summary = reports.PolicySummary(
        inputs.policy_source, levels, [vars(v) for v in report.violations], [vars(s) for s in report.skipped]
    )
    files["policy-report.txt"] = reports.policy_report_text(stack, report.pack, policy_summary)
    files["policy-report.json"] = json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n"

    # Reports quote values (policy messages, schema errors): no secret may pass through them.
    secrets = render.secret_strings(recording) | set(inputs.secret_values.values())
    for name in ("schema-report.txt", "schema-report.json", "policy-report.txt", "policy-report.json"):
        files[name] = _scrub(files[name], secrets)
    return Plan(files, objects, schema_results, report, redactor.count, sorted(steps), notes, list(upstream.obtained.values()))


def _check(file: str, obj: Mapping[str, Any], schemas: Schemas) -> reports.SchemaResult:
    identity = render.object_identity(obj)
    api_version = str(obj.get("apiVersion", ""))
    kind_schema = schemas.schema_for(api_version, identity[0])
    if kind_schema is None:
        why = schemas.unavailable.get((api_version, identity[0]))
        why = why or f"no schema for {api_version} {identity[0]} (give its schema file with --schemas)"
        reason = f"not validated: {why}"
        return reports.SchemaResult(file, identity, api_version, None, reason=reason)
    errors: list[SchemaError] = validate_object(obj, schemas)
    return reports.SchemaResult(file, identity, api_version, kind_schema.source, tuple((e.path, e.message) for e in errors))


def _node_names(config: Mapping[str, Any]) -> dict[tuple[str, Any], str]:
    """``(host, port) -> node name`` from ``kvm-in-a-pod:nodes``."""
    nodes = config.get(NODES_CONFIG)
    if not isinstance(nodes, list):
        return {}
    return {(str(n.get("host")), n.get("port", 22)): str(n.get("name")) for n in nodes if isinstance(n, dict)}


def _label(resource: RecordedResource, obj: Mapping[str, Any] | None, file: str | None) -> str:
    kind = render.short_type(resource.type)
    if obj is not None:
        return f"{resource.name}\n{render.describe(render.object_identity(obj))}"
    if render.is_manifest_reference(resource):
        return f"{resource.name}\n{kind} ({'remote' if file and file.endswith('.txt') else 'local'} manifest)"
    if render.is_remote(resource):
        return f"{resource.name}\n{kind}"
    return f"{kind}: {resource.name}"


def _scrub(text: str, secrets: set[str]) -> str:
    fragments = {piece.strip() for secret in secrets for piece in [secret, *secret.splitlines()]}
    for fragment in sorted((f for f in fragments if len(f) >= MIN_SECRET_FRAGMENT), key=len, reverse=True):
        text = text.replace(fragment, render.SECRET_TEXT)
    return text


if __name__ == "__main__":
    sys.exit(main())
