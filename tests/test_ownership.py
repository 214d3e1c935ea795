"""Claims about the objects the program applies being its own (``components/ownership.py``, issue 18).

- Every object applied through the default (server-side apply) provider carries
  ``pulumi.com/patchForce: "true"``, so a field edited by hand is taken back by the next update
  instead of failing it with a field conflict (make e2e: a NAD edited by hand).
- VMIs, which go through the client-side-apply provider, do not: the annotation would do nothing.
- A VM carries the generation the API server reports for each NAD it uses, so a NAD changed by hand
  and set back replaces (VMI) or updates (VirtualMachine) the VMs on it; an unknown generation (the
  offline plan, a NAD not created yet) leaves the annotation out.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.macvtap_vm import NAD_GENERATIONS_ANNOTATION, MacvtapVM, MacvtapVMWiring, NadGenerations
from components.ownership import PATCH_FORCE
from offline.engine import Recording, record_callable
from tests.recorded import inputs

VMI = "kubernetes:kubevirt.io/v1:VirtualMachineInstance"


def applied_objects(recording: Recording) -> list[Any]:
    return [r for r in recording.resources if r.custom and r.type.startswith("kubernetes:") and "Provider" not in r.type]


def test_every_object_applied_server_side_takes_its_fields_back(dev: Recording, lab: Recording) -> None:
    for recording in (dev, lab):
        objects = [r for r in applied_objects(recording) if r.type != VMI and "yaml/v2:ConfigFile" not in r.type]
        assert {r.type.rsplit(":", 1)[1] for r in objects} >= {
            "Namespace",
            "ConfigMap",
            "DaemonSet",
            "NetworkAttachmentDefinition",
            "KubeVirt",
        }
        for resource in objects:
            assert resource.inputs["metadata"]["annotations"][PATCH_FORCE] == "true", resource.name
    assert inputs(lab, "web1-vm")["metadata"]["annotations"][PATCH_FORCE] == "true"


def test_vmis_do_not_carry_it(dev: Recording) -> None:
    assert PATCH_FORCE not in inputs(dev, "vm1-vmi")["metadata"]["annotations"]


def test_the_offline_plan_knows_no_nad_generation_and_leaves_the_annotation_out(dev: Recording, lab: Recording) -> None:
    assert NAD_GENERATIONS_ANNOTATION not in inputs(dev, "vm1-vmi")["metadata"]["annotations"]
    assert NAD_GENERATIONS_ANNOTATION not in inputs(lab, "web1-vm")["spec"]["template"]["metadata"]["annotations"]


def test_a_vm_carries_the_generations_the_api_server_reports_for_its_nads() -> None:
    seen: dict[str, Any] = {}

    def program() -> None:
        # The recording engine reports a resource's inputs as its outputs: a generation given
        # here stands for the one the API server reports.
        nads = {
            name: k8s.apiextensions.CustomResource(
                name, api_version="k8s.cni.cncf.io/v1", kind="NetworkAttachmentDefinition", metadata={"name": name, **extra}
            )
            for name, extra in (("lan", {"generation": 3}), ("storage-9441e8", {"generation": 1}), ("new", {}))
        }
        generations = NadGenerations(nads)
        known = generations.annotations({"a": "b"}, ["lan", "storage-9441e8"])
        unknown = generations.annotations({"a": "b"}, ["lan", "new"])
        pulumi.Output.all(known, unknown).apply(lambda both: seen.update(known=both[0], unknown=both[1]))

    record_callable(program, {})
    assert seen["known"] == {"a": "b", NAD_GENERATIONS_ANNOTATION: "lan=3,storage-9441e8=1"}
    assert seen["unknown"] == {"a": "b"}


def generation_program(*, deferred: bool, kind: str) -> Any:
    """A MacvtapVM on NADs whose API server reports generations; its args known, or Outputs (``deferred``)."""

    def program() -> None:
        configs = {"lan": '{"cniVersion": "0.3.1", "type": "macvtap"}'}
        nads = {
            "lan": k8s.apiextensions.CustomResource(
                "lan", api_version="k8s.cni.cncf.io/v1", kind="NetworkAttachmentDefinition", metadata={"name": "lan", "generation": 4}
            )
        }
        args: dict[str, Any] = {"name": "db1", "namespace": "team-b", "kind": kind, "macvtap": [{"network": "lan"}], "nads": configs}
        if deferred:
            args["nads"] = pulumi.Output.from_input(configs)
        MacvtapVM("db1", args, wiring=MacvtapVMWiring(nad_resources=nads))  # type: ignore[arg-type]

    return program


@pytest.mark.parametrize("deferred", [False, True], ids=["known-args", "output-args"])
def test_a_vmi_carries_its_nads_generations_whether_its_args_are_known_or_outputs(deferred: bool) -> None:
    recording = record_callable(generation_program(deferred=deferred, kind="VirtualMachineInstance"), {}, stack="team-b")
    assert inputs(recording, "db1-vmi")["metadata"]["annotations"][NAD_GENERATIONS_ANNOTATION] == "lan=4"


@pytest.mark.parametrize("deferred", [False, True], ids=["known-args", "output-args"])
def test_a_virtual_machine_carries_them_in_its_template_and_takes_its_fields_back(deferred: bool) -> None:
    recording = record_callable(generation_program(deferred=deferred, kind="VirtualMachine"), {}, stack="team-b")
    vm = inputs(recording, "db1-vm")
    assert vm["spec"]["template"]["metadata"]["annotations"][NAD_GENERATIONS_ANNOTATION] == "lan=4"
    assert vm["metadata"]["annotations"][PATCH_FORCE] == "true"
