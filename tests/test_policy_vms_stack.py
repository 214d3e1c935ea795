"""Claims about the pack on a `vms` stack, run through offline.policy_run as on a recording.

A vms stack's StackReference is recorded with the state the engine's builtin provider reads for
it (``name``, ``outputs``, ``secretOutputNames``), which is what stack policies see (AnalyzeStack
gets each resource's outputs). Here dev's own VMs and NADs are moved onto such a reference,
standing in for the program's `role: vms` until that branch is merged:

- they pass every policy, advisory ones included, with the platform's export read through
  policy_run, even when the export is a secret (policies see secrets as plain values);
- the same stack over the platform's capacity is refused, naming the network and the numbers;
- the same stack on a reference that exports no macvtapPlatform is refused by
  macvtap-platform-reference, and only by it;
- served as the CLI serves it (policies/ over gRPC), the pack's AnalyzeStack reads the
  reference's outputs, a secret export included, and refuses the stack over capacity.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from offline.engine import SECRET_SIG_KEY, SECRET_SIG_VALUE, RecordedResource, Recording, is_secret
from offline.policy_run import PolicyReport, run_policies
from policies.guardrails.kinds import NAD_TYPE, STACK_REFERENCE_TYPE, VMI_TYPE
from tests import test_policy_stacks
from tests.policy_resources import platform_export

# The pack started as the CLI starts it, shared as a fixture with the whole-stack policy tests.
served_pack = test_policy_stacks.served_pack

VM_COMPONENT = "kvm-in-a-pod:index:MacvtapVM"
PLATFORM = "acme/kvm-in-a-pod/platform"


def secret(value: Any) -> dict[str, Any]:
    return {SECRET_SIG_KEY: SECRET_SIG_VALUE, "value": value}


def on_platform_reference(recording: Recording, outputs: dict[str, Any]) -> Recording:
    """dev's VMs, NADs and their components as a vms stack whose VMs depend on a StackReference."""
    reference = RecordedResource(
        urn=f"urn:pulumi:{recording.stack}::kvm-in-a-pod::{STACK_REFERENCE_TYPE}::platform",
        type=STACK_REFERENCE_TYPE,
        name="platform",
        custom=True,
        parent="",
        dependencies=(),
        property_dependencies={},
        inputs={"name": PLATFORM, "outputs": outputs, "secretOutputNames": sorted(k for k, v in outputs.items() if is_secret(v))},
        provider="",
    )
    kept = [r for r in recording.resources if r.type in (VM_COMPONENT, NAD_TYPE, VMI_TYPE)]
    urns = {r.urn for r in kept}
    moved = [
        dataclasses.replace(
            r,
            dependencies=(*(urn for urn in r.dependencies if urn in urns), *((reference.urn,) if r.type == VMI_TYPE else ())),
            property_dependencies={},
        )
        for r in kept
    ]
    return dataclasses.replace(recording, stack="team-a", resources=[reference, *moved])


def check(recording: Recording) -> PolicyReport:
    return run_policies(recording, {})


@pytest.mark.parametrize("wrap", [lambda value: value, secret], ids=["plain", "secret"])
def test_dev_vms_on_a_platform_reference_pass_every_policy(dev: Recording, wrap: Any) -> None:
    report = check(on_platform_reference(dev, {"macvtapPlatform": wrap(platform_export({"dataplane": 1.0}, node_count=2.0))}))
    assert report.violations == () and report.skipped == ()


def test_dev_vms_over_the_platforms_capacity_are_refused(dev: Recording) -> None:
    report = check(on_platform_reference(dev, {"macvtapPlatform": platform_export({"dataplane": 1.0}, node_count=1.0)}))
    [violation] = report.violations
    assert (violation.policy, violation.resource_name, violation.enforcement_level) == ("macvtap-capacity", "platform", "mandatory")
    assert "'macvtap.network.kubevirt.io/dataplane'" in violation.message and "request 2 interfaces" in violation.message
    assert f"only 1 exist (capacity 1 per node x 1 node(s), from macvtapPlatform.nodeCount of stack '{PLATFORM}')" in violation.message


def test_dev_vms_on_a_stack_without_a_platform_export_are_refused_once(dev: Recording) -> None:
    report = check(on_platform_reference(dev, {"kubevirtVersion": "v1.9.0"}))
    assert [(v.policy, v.resource_name) for v in report.violations] == [("macvtap-platform-reference", "platform")]


def test_served_pack_reads_a_secret_platform_export_over_grpc(served_pack: analyzer_pb2_grpc.AnalyzerStub, dev: Recording) -> None:
    stack = on_platform_reference(dev, {"macvtapPlatform": secret(platform_export({"dataplane": 1.0}, node_count=1.0))})
    resources = []
    for recorded in stack.resources:
        properties = struct_pb2.Struct()
        properties.update(dict(recorded.inputs))
        resources.append(
            analyzer_pb2.AnalyzerResource(
                type=recorded.type,
                properties=properties,
                urn=recorded.urn,
                name=recorded.name,
                parent=recorded.parent,
                dependencies=list(recorded.dependencies),
            )
        )
    response = served_pack.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources), timeout=30)
    [diagnostic] = response.diagnostics
    assert (diagnostic.policyName, diagnostic.enforcementLevel) == ("macvtap-capacity", analyzer_pb2.MANDATORY)
    assert diagnostic.urn == stack.named("platform").urn
    assert f"from macvtapPlatform.nodeCount of stack '{PLATFORM}'" in diagnostic.message
