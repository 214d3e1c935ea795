"""Small readers over a Recording, so each test reads as one claim."""

from __future__ import annotations

from typing import Any

from offline.engine import RecordedResource, Recording, unwrap_secrets

NAD = "kubernetes:k8s.cni.cncf.io/v1:NetworkAttachmentDefinition"
VMI = "kubernetes:kubevirt.io/v1:VirtualMachineInstance"
VM = "kubernetes:kubevirt.io/v1:VirtualMachine"
KUBEVIRT_CR = "kubernetes:kubevirt.io/v1:KubeVirt"
CONFIG_FILE = "kubernetes:yaml/v2:ConfigFile"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
COMMAND = "command:remote:Command"
COPY = "command:remote:CopyToRemote"


def inputs(recording: Recording, name: str) -> dict[str, Any]:
    """The plain inputs of the resource named ``name`` (secrets unwrapped)."""
    plain: dict[str, Any] = unwrap_secrets(dict(recording.named(name).inputs))
    return plain


def depends_on(recording: Recording, name: str) -> set[str]:
    """Names of the resources ``name`` directly depends on."""
    return {recording.by_urn(urn).name for urn in recording.named(name).dependencies}


def names_of(resources: list[RecordedResource]) -> set[str]:
    return {r.name for r in resources}


def dependency_closure(recording: Recording, name: str) -> set[str]:
    """Every resource name reachable from ``name`` through dependencies (not parents)."""
    seen: set[str] = set()
    stack = [recording.named(name).urn]
    while stack:
        for urn in recording.by_urn(stack.pop()).dependencies:
            dependency = recording.by_urn(urn).name
            if dependency not in seen:
                seen.add(dependency)
                stack.append(urn)
    return seen
