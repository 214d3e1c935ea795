"""The offline plan: what ``pulumi up`` would do to a stack, rendered without a cluster or the CLI.

Usage (``make plan`` runs it for STACK=dev)::

    python -m offline.plan STACK --out DIR [--schemas DIR | --offline | --mirror URL] [--policy-config FILE]
        [--set KEY=JSON ...] [--platform-set KEY=JSON ...]

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
  (or ``--policy-config``).

``--set KEY=JSON`` replaces a config key (``--set 'kvm-in-a-pod:macvtap={...}'``); ``null``
removes it. A stack with role vms reads its platform through a StackReference: the platform stack
it names is recorded first, from its own stack file in this project, and its exports are what the
reference reads (``offline.platform_stack``); ``--platform-set`` replaces keys of that stack's config.
A secret the stack file cannot give (an encrypted ``secure:`` value, or
``kvm-in-a-pod:sshPrivateKey`` when ssh mode needs it and the file does not hold it) is
replaced by a placeholder, and every secret is written as ``[secret]``; a final scan of every
written file fails the run if one still appears.

Exit status: 0 clean; 1 a schema error or a mandatory policy violation (named on stderr);
2 a usage or config error (a config error prints the Pulumi CLI's config-check message or the
program's RunError message, as ``pulumi up``).
The files are byte-identical across runs; only stdout shows the time taken.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

from offline import remote_manifest, render
from offline.engine import PROJECT_NAME, PROJECT_ROOT, RecordedResource, Recording, StackConfigError, record_stack, stack_file
from offline.platform_stack import PlatformStackError, ResolvedPlatform, resolve_platform
from offline.policy_run import POLICY_CONFIG_DIR, PolicyReport, reconcile_config, run_policies
from offline.project_config import is_encrypted
from offline.schema_check import SchemaError, SchemaLoadError, Schemas, load_schemas, validate_object
from offline.schema_source import (
    UPSTREAM_HOSTS,
    FetchPolicy,
    Obtained,
    Upstream,
    default_cache_dir,
    refuse_mirror,
    schemas_by_version,
    upstream_versions,
)

EXIT_FAILED = 1
EXIT_USAGE = 2
SSH_KEY_CONFIG = f"{PROJECT_NAME}:sshPrivateKey"
MACVTAP_CONFIG = f"{PROJECT_NAME}:macvtap"
NODES_CONFIG = f"{PROJECT_NAME}:nodes"
# Stands in for the SSH private key when the stack file cannot give it. Shaped like a key so
# that the program's config check accepts it; never written anywhere (the final scan checks).
PLACEHOLDER_SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nkvm-in-a-pod-offline-plan-placeholder-not-a-key\n-----END OPENSSH PRIVATE KEY-----\n"
)
PLACEHOLDER_SECRET = "kvm-in-a-pod-offline-plan-placeholder-secret"
# Written into DIR so that a later run only ever wipes a directory a plan wrote.
MARKER = ".offline-plan"
VM_KINDS = ("VirtualMachineInstance", "VirtualMachine")
# Secret fragments shorter than this are not searched for (too many false matches).
MIN_SECRET_FRAGMENT = 8


class UsageError(Exception):
    """Bad arguments or inputs: exit 2 with the message."""


def main(argv: Sequence[str] | None = None) -> int:
    started = time.monotonic()
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # argparse has printed the usage error (or --help)
        return int(exit_.code or 0)
    try:
        inputs = _read_inputs(args)
    except (UsageError, SchemaLoadError, PlatformStackError) as error:
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
    plan = build_plan(args.stack, recording, inputs)
    out: Path = args.out
    _write(out, plan.files)
    leaked = find_leaks(out, inputs.secret_values.values(), render.secret_strings(recording))
    if leaked:
        shutil.rmtree(out)
        print(f"error: a secret value appeared in {', '.join(leaked)}; removed {out}. This is a bug in offline.plan.", file=sys.stderr)
        return EXIT_FAILED
    print(summary(args.stack, out, recording, inputs, plan, time.monotonic() - started))
    failures = plan.failures()
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
    return parser


@dataclass(frozen=True)
class PlanInputs:
    overrides: dict[str, Any]  # config key -> value (None removes the key)
    secret_values: dict[str, str]  # placeholders for secrets the stack file cannot give
    config: dict[str, Any]  # the effective plain config, keys as in the stack file
    policy_config: dict[str, Any]
    policy_source: str
    local_schemas: Schemas | None  # from --schemas; None: upstream's by version
    fetch: FetchPolicy
    platform: ResolvedPlatform | None  # role vms: the recorded platform stack its StackReference reads


def _read_inputs(args: argparse.Namespace) -> PlanInputs:
    overrides = parse_overrides(args.set)
    path = stack_file(args.stack)
    if not path.is_file():
        raise UsageError(f"no stack file {path.name} in {PROJECT_ROOT}")
    file_config = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("config") or {}
    config = {key: value for key, value in {**file_config, **overrides}.items() if value is not None}
    if args.policy_config is None:
        policy_path, policy_source = POLICY_CONFIG_DIR / f"{args.stack}.json", f"policies/config/{args.stack}.json"
    else:
        policy_path, policy_source = args.policy_config, str(args.policy_config)
    try:
        policy_config = json.loads(policy_path.read_text(encoding="utf-8"))
        reconcile_config(policy_config)
    except (OSError, ValueError, TypeError, AttributeError) as error:
        raise UsageError(f"policy config {policy_source}: {error}") from None
    _check_out(args.out)
    mirror_problem = None if args.mirror is None else refuse_mirror(args.mirror)
    if mirror_problem:
        raise UsageError(f"--mirror: {mirror_problem}")
    return PlanInputs(
        overrides=overrides,
        secret_values=placeholder_secrets(config),
        config=config,
        policy_config=policy_config,
        policy_source=policy_source,
        local_schemas=None if args.schemas is None else load_schemas(args.schemas),
        fetch=FetchPolicy(default_cache_dir(), offline=args.offline, mirror=args.mirror),
        platform=resolve_platform(
            args.stack, config, platform_overrides=parse_overrides(args.platform_set), secret_values_for=placeholder_secrets
        ),
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
    macvtap = config.get(MACVTAP_CONFIG)
    ssh_mode = isinstance(macvtap, dict) and macvtap.get("cniInstall") == "ssh"
    if SSH_KEY_CONFIG in placeholders or (ssh_mode and SSH_KEY_CONFIG not in config):
        placeholders[SSH_KEY_CONFIG] = PLACEHOLDER_SSH_KEY
    return placeholders


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise UsageError(f"refusing to replace {out}: it is not a plan directory (no {MARKER} in it); choose another --out")


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
    schema_results: list[render.SchemaResult]
    policy_report: PolicyReport
    redacted: int
    nodes: list[str]
    transform_notes: dict[str, list[render.TransformNote]]  # manifest file -> notes
    upstream: list[Obtained]  # the upstream files the plan asked for, in order

    def failures(self) -> list[str]:
        lines = [
            f"schema error: {result.file} ({render.describe(result.identity)}): {path or '(object)'}: {message}"
            for result in self.schema_results
            for path, message in result.errors
        ]
        lines += [
            f"policy violation: {v.policy} (mandatory) on {v.resource_name or 'the stack'}: {v.message}"
            for v in self.policy_report.mandatory_violations
        ]
        return lines


def build_plan(stack: str, recording: Recording, inputs: PlanInputs) -> Plan:
    upstream = Upstream(inputs.fetch)
    versions = upstream_versions(inputs.config)
    schemas = inputs.local_schemas if inputs.local_schemas is not None else schemas_by_version(upstream, versions)
    order = render.apply_order(recording)
    redactor = render.Redactor()
    files: dict[str, str] = {MARKER: f"offline plan of stack {stack}\n"}
    schema_results: list[render.SchemaResult] = []
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
        notes[file] = remote_manifest.transform_notes(recording, resource)
        if resource.urn in fetched:
            remote_file = remote_manifest.show(number, resource, recording, fetched[resource.urn], notes[file], after(resource))
            files[file] = remote_file.text
            if remote_file.unavailable:
                reason = f"not validated: {remote_file.unavailable}"
                schema_results.append(render.SchemaResult(file, ("ConfigFile", "", resource.name), "", None, reason=reason))
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
    files["schema-report.txt"] = render.schema_report_text(stack, sources, schema_results)
    files["schema-report.json"] = render.schema_report_json(stack, sources, schema_results)

    report = run_policies(recording, inputs.policy_config)
    levels = {name: settings.enforcement_level.value for name, settings in reconcile_config(inputs.policy_config).items()}
    policy_summary = render.PolicySummary(
        inputs.policy_source, levels, [vars(v) for v in report.violations], [vars(s) for s in report.skipped]
    )
    files["policy-report.txt"] = render.policy_report_text(stack, report.pack, policy_summary)
    files["policy-report.json"] = json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n"

    # Reports quote values (policy messages, schema errors): no secret may pass through them.
    secrets = render.secret_strings(recording) | set(inputs.secret_values.values())
    for name in ("schema-report.txt", "schema-report.json", "policy-report.txt", "policy-report.json"):
        files[name] = _scrub(files[name], secrets)
    return Plan(files, objects, schema_results, report, redactor.count, sorted(steps), notes, list(upstream.obtained.values()))


def _check(file: str, obj: Mapping[str, Any], schemas: Schemas) -> render.SchemaResult:
    identity = render.object_identity(obj)
    api_version = str(obj.get("apiVersion", ""))
    kind_schema = schemas.schema_for(api_version, identity[0])
    if kind_schema is None:
        why = schemas.unavailable.get((api_version, identity[0]))
        why = why or f"no schema for {api_version} {identity[0]} (give its schema file with --schemas)"
        reason = f"not validated: {why}"
        return render.SchemaResult(file, identity, api_version, None, reason=reason)
    errors: list[SchemaError] = validate_object(obj, schemas)
    return render.SchemaResult(file, identity, api_version, kind_schema.source, tuple((e.path, e.message) for e in errors))


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


# --- stdout -------------------------------------------------------------------------------


def summary(stack: str, out: Path, recording: Recording, inputs: PlanInputs, plan: Plan, seconds: float) -> str:
    kinds = Counter(render.short_type(r.type) for r in recording.resources if r.custom or render.is_manifest_reference(r))
    components = sum(1 for r in recording.resources if not r.custom and not render.is_manifest_reference(r))
    vms = sorted(
        render.describe(render.object_identity(obj)).split(" ", 1)[1] for obj in plan.objects.values() if obj.get("kind") in VM_KINDS
    )
    totals = render.schema_totals(plan.schema_results)
    mandatory = len(plan.policy_report.mandatory_violations)
    lines = [f"Offline plan of stack {stack} -> {out}"]
    if inputs.secret_values:
        lines.append(
            f"  secret: {', '.join(sorted(inputs.secret_values))} is not readable from Pulumi.{stack}.yaml "
            "(pulumi config set --secret); planned with a placeholder value, never written"
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
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
