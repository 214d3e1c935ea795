"""How an offline plan shows a Recording: apply order, redacted values, and each file's text.

Pure functions of the recording (and of data derived from it), so the plan's files are
byte-identical across runs: every mapping is emitted with sorted keys, every list of
resources in apply order or by URN, never in registration order (which varies).
"""

from __future__ import annotations

import heapq
import json
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from offline.engine import PROJECT_ROOT, RecordedResource, Recording, is_secret

SECRET_TEXT = "[secret]"
CONFIG_FILE_TYPE = "kubernetes:yaml/v2:ConfigFile"
REMOTE_TYPE_PREFIX = "command:remote:"
# pulumi-command's ConnectionArgs travels as one secret object as soon as one field (the
# private key) is a secret. These fields come from the plain stack config
# (kvm-in-a-pod:nodes) or are provider defaults; every other field stays redacted.
PUBLIC_CONNECTION_FIELDS = frozenset({"host", "port", "user", "hostKey", "perDialTimeout", "dialErrorLimit"})
COMMAND_KEYS = ("create", "update", "delete")


def is_kubernetes_object(resource: RecordedResource) -> bool:
    return resource.custom and resource.type.startswith("kubernetes:")


def is_manifest_reference(resource: RecordedResource) -> bool:
    return resource.type == CONFIG_FILE_TYPE


def is_remote(resource: RecordedResource) -> bool:
    return resource.type.startswith(REMOTE_TYPE_PREFIX)


def short_type(type_token: str) -> str:
    """``kubernetes:apps/v1:DaemonSet`` -> ``DaemonSet``; ``pulumi:providers:kubernetes`` -> ``Provider``."""
    if type_token.startswith("pulumi:providers:"):
        return "Provider"
    return type_token.rsplit(":", 1)[-1]


def apply_order(recording: Recording) -> list[RecordedResource]:
    """Every resource after its dependencies (topological order), ties broken by URN.

    Only recorded dependencies order resources, as in Pulumi's engine: parents do not.
    """
    by_urn = {resource.urn: resource for resource in recording.resources}
    waiting_on = {urn: {dep for dep in resource.dependencies if dep in by_urn and dep != urn} for urn, resource in by_urn.items()}
    dependents: dict[str, list[str]] = {urn: [] for urn in by_urn}
    for urn, deps in waiting_on.items():
        for dep in deps:
            dependents[dep].append(urn)
    ready = [urn for urn, deps in waiting_on.items() if not deps]
    heapq.heapify(ready)
    ordered: list[RecordedResource] = []
    while ready:
        urn = heapq.heappop(ready)
        ordered.append(by_urn[urn])
        for dependent in dependents[urn]:
            waiting_on[dependent].discard(urn)
            if not waiting_on[dependent]:
                heapq.heappush(ready, dependent)
    if len(ordered) != len(by_urn):
        raise ValueError(f"dependency cycle among: {', '.join(sorted(set(by_urn) - {r.urn for r in ordered}))}")
    return ordered


@dataclass
class Redactor:
    """Replaces secret-wrapped values by ``[secret]``, counting each replacement."""

    count: int = 0

    def redact(self, value: Any) -> Any:
        if is_secret(value):
            if isinstance(value["value"], dict):
                # A secret mapping (a Secret's stringData) keeps its keys, the shape the schema check
                # reads; every value is redacted.
                return {key: self._redact_all(item) for key, item in value["value"].items()}
            self.count += 1
            return SECRET_TEXT
        if isinstance(value, dict):
            return {key: self.redact(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.redact(item) for item in value]
        return value

    def _redact_all(self, value: Any) -> Any:
        """Inside a secret: every leaf is secret, wrapped or not."""
        if isinstance(value, dict) and not is_secret(value):
            return {key: self._redact_all(item) for key, item in value.items()}
        self.count += 1
        return SECRET_TEXT

    def redact_connection(self, connection: Any) -> Any:
        """A remote connection with its public fields shown and every other field redacted."""
        if not is_secret(connection) or not isinstance(connection["value"], dict):
            return self.redact(connection)
        shown: dict[str, Any] = {}
        for key, item in connection["value"].items():
            if key in PUBLIC_CONNECTION_FIELDS:
                shown[key] = self.redact(item)
            else:
                self.count += 1
                shown[key] = SECRET_TEXT
        return shown


def secret_strings(recording: Recording) -> set[str]:
    """Every string the plan must never write: the content of each secret wrapper in the inputs.

    The public fields of remote connections are not secret (see PUBLIC_CONNECTION_FIELDS),
    unless they hold a secret wrapper of their own.
    """
    found: set[str] = set()
    for resource in recording.resources:
        for key, value in resource.inputs.items():
            if key == "connection" and is_remote(resource) and is_secret(value) and isinstance(value["value"], dict):
                for field_name, item in value["value"].items():
                    found.update(_strings(item, hidden=field_name not in PUBLIC_CONNECTION_FIELDS))
            else:
                found.update(_strings(value, hidden=False))
    return found


def _strings(value: Any, hidden: bool) -> Iterator[str]:
    if is_secret(value):
        yield from _strings(value["value"], hidden=True)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item, hidden)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, hidden)
    elif hidden and isinstance(value, str):
        yield value


def json_numbers(value: Any) -> Any:
    """Whole floats as ints: inputs cross the wire as protobuf numbers (doubles), and the
    provider sends ``30.0`` to the API server as the JSON number ``30``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: json_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_numbers(item) for item in value]
    return value


def sorted_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sorted_keys(item) for item in value]
    return value


def kubernetes_object(resource: RecordedResource, redactor: Redactor) -> dict[str, Any]:
    """The object as applied: apiVersion, kind, metadata first, then the other fields by name."""
    inputs = sorted_keys(json_numbers(redactor.redact(dict(resource.inputs))))
    head = {key: inputs.pop(key) for key in ("apiVersion", "kind", "metadata") if key in inputs}
    return {**head, **inputs}


def object_identity(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    """(kind, namespace, name); namespace is "" for cluster-scoped objects."""
    metadata = obj.get("metadata") or {}
    return str(obj.get("kind", "")), str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (cloud-init user data) as literal blocks, so they read as files."""


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_Dumper.add_representer(str, _represent_str)


def to_yaml(document: Any) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=4096)


def project_relative(path: str) -> str:
    """A path under the project as relative to it (as the stack config names it), else as is."""
    resolved = Path(path)
    return str(resolved.relative_to(PROJECT_ROOT)) if resolved.is_absolute() and resolved.is_relative_to(PROJECT_ROOT) else path


# --- manifests/ ---------------------------------------------------------------------------


def manifest_text(number: str, resource: RecordedResource, obj: Mapping[str, Any], after: Sequence[str]) -> str:
    lines = [f"# {number} {resource.name} ({resource.type})"]
    if after:
        lines.append(f"# after: {', '.join(after)}")
    return "\n".join(lines) + "\n" + to_yaml(dict(obj))


@dataclass(frozen=True)
class TransformNote:
    name: str  # the transform's qualified name
    effect: str  # what it did to the probe


def remote_manifest_text(
    number: str, resource: RecordedResource, source: str, reason: str, notes: Sequence[TransformNote], after: Sequence[str]
) -> str:
    lines = [
        f"# {number} {resource.name} ({resource.type})",
        "# A remote manifest: applied by the Kubernetes provider from this URL at deploy time.",
        f"# The plan could not get it ({reason}), so its objects are neither listed nor schema-checked here.",
        f"url: {source}",
    ]
    if after:
        lines.append(f"after: {', '.join(after)}")
    for note in notes:
        lines.append(f"transform {note.name}: {note.effect}")
    return "\n".join(lines) + "\n"


# --- nodes/ -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeStep:
    """One remote resource on a node, in apply order, with its values already redacted."""

    resource: RecordedResource
    connection: Mapping[str, Any]
    other_inputs: Mapping[str, Any]  # everything but connection and the command strings
    commands: Mapping[str, str]  # create / update / delete
    after: Sequence[str]  # names of what it waits for
    stdin: str | None = None  # what the provider writes to create's and update's standard input


def node_step(resource: RecordedResource, redactor: Redactor, after: Sequence[str]) -> NodeStep:
    inputs = dict(resource.inputs)
    connection = json_numbers(redactor.redact_connection(inputs.pop("connection", {})))
    commands = {key: str(redactor.redact(inputs.pop(key))) for key in COMMAND_KEYS if key in inputs}
    stdin = str(redactor.redact(inputs.pop("stdin"))) if "stdin" in inputs else None
    other = {key: _shown(value) for key, value in json_numbers(redactor.redact(inputs)).items()}
    return NodeStep(resource, connection, other, commands, after, stdin)


def _shown(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"fileAsset"}:
        return {"fileAsset": project_relative(str(value["fileAsset"]))}
    return value


def node_script(stack: str, node: str, steps: Sequence[NodeStep]) -> str:
    """What ``pulumi up`` does on one node over SSH, as a reviewable sh file.

    The command strings are verbatim: ``create`` (and ``update``) run on create and when a
    trigger changes, ``delete`` on destroy, in reverse order.
    """
    lines = [
        "#!/bin/sh",
        f"# Offline plan of stack {stack}: what `pulumi up` runs on node {node} over SSH, in order.",
        "# Generated for review: the commands are exact; secrets are shown as [secret].",
    ]
    for index, step in enumerate(steps, 1):
        lines.append("#")
        lines.append(f"# {index}. {step.resource.name} ({step.resource.type})")
        if step.after:
            lines.append(f"#    after: {', '.join(step.after)}")
        lines.append("#    connection: " + _flat_json(sorted_keys(step.connection)))
        for key, value in sorted(step.other_inputs.items()):
            lines.append(f"#    {key}: {_flat_json(sorted_keys(value))}")
        if step.resource.type == REMOTE_TYPE_PREFIX + "CopyToRemote":
            lines.append("#    (a file upload by the provider over SFTP, not a shell command)")
        for key in COMMAND_KEYS:
            if key in step.commands:
                lines.append(f"#    {key}: the '{key}' branch below")
    lines += ["", 'case "${1:-}" in']
    for key in COMMAND_KEYS:
        ordered = steps if key != "delete" else list(reversed(steps))
        # The provider writes stdin to create and update (pulumi-command remote.Command), not to delete.
        branch = [
            (step.resource.name, _with_stdin(step.commands[key], step.stdin if key != "delete" else None))
            for step in ordered
            if key in step.commands
        ]
        if not branch:
            continue
        lines.append(f"{key})")
        for name, command in branch:
            lines += [f"# {name}", command]
        lines.append(";;")
    lines += [
        "*)",
        f'echo "usage: $0 {"|".join(k for k in COMMAND_KEYS if any(k in s.commands for s in steps))}" >&2',
        "exit 2",
        ";;",
        "esac",
    ]
    return "\n".join(lines) + "\n"


def _with_stdin(command: str, stdin: str | None) -> str:
    return command if stdin is None else f"printf %s {shlex.quote(stdin)} | {command}"


def _flat_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


# --- graph.mmd ----------------------------------------------------------------------------


def mermaid_graph(recording: Recording, labels: Mapping[str, str]) -> str:
    """``flowchart TD``: components as subgraphs, an edge from each dependency to its dependent."""
    resources = sorted(recording.resources, key=lambda r: r.urn)
    ids = {resource.urn: f"r{index}" for index, resource in enumerate(resources)}
    children: dict[str, list[RecordedResource]] = {}
    for resource in resources:
        children.setdefault(resource.parent, []).append(resource)
    lines = ["flowchart TD"]

    def emit(parent: str, depth: int) -> None:
        indent = "  " * depth
        for resource in children.get(parent, []):
            label = _mermaid_text(labels.get(resource.urn, resource.name))
            if resource.urn in children:
                lines.append(f'{indent}subgraph {ids[resource.urn]}["{label}"]')
                emit(resource.urn, depth + 1)
                lines.append(f"{indent}end")
            elif is_manifest_reference(resource):
                lines.append(f'{indent}{ids[resource.urn]}[["{label}"]]')
            else:
                lines.append(f'{indent}{ids[resource.urn]}["{label}"]')

    emit("", 1)
    edges = sorted(
        (ids[dep], ids[resource.urn]) for resource in resources for dep in set(resource.dependencies) if dep in ids and dep != resource.urn
    )
    lines += [f"  {source} --> {target}" for source, target in edges]
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    return text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;").replace("\n", "<br/>")


def describe(identity: tuple[str, str, str]) -> str:
    kind, namespace, name = identity
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
