"""Claims about the policy pack on the real stacks, end to end without the CLI (offline.policy_run).

- dev and lab, recorded from their stack files, pass every policy under their own
  policies/config/<stack>.json, advisory ones included, in an update and in a preview; so
  does dev with its VMs as VirtualMachines (lab already has one).
- The config files are valid for the pack: dev counts 1 node from config, lab 2.
- The conversion hands policies the recorded graph: parents and dependencies as resolved
  PolicyResources, props with secrets unwrapped.
- Deliberately broken stacks each produce exactly the expected violation:
  over capacity (dev, node count from config; lab, node count from its node installs, which
  win over the config's nodeCount), an unknown network, duplicate MACs, a legacy binding,
  too many interfaces, an oversized VM (which dev's generous limits allow).
- Enforcement levels follow the config file: a level string or {"enforcementLevel"}, "all",
  "disabled"; knobs get the schema defaults and reach policies as floats, as from the CLI.
- Config mistakes (unknown policy or knob, wrong type, out of range, bad level) are refused. A
  knob without a default (nodeCount) stays absent until set, as from the CLI.
- A policy that reads an unknown value is skipped with a note; the pack's own policies never are.
- The report serializes to JSON.
- policies/__main__.py serves the pack as the CLI launches it (`python -u -m pulumi.policy`
  in policies/): it lists the twelve policies with their schemas over gRPC, takes a config and
  analyzes a resource.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import select
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel, ResourceValidationArgs, ResourceValidationPolicy

from components.config import MacvtapAttachment, nad_name
from offline.engine import PROJECT_ROOT, Recording, record_stack
from offline.policy_run import (
    PolicyReport,
    PolicySettings,
    load_policy_config,
    reconcile_config,
    run_policies,
    to_policy_resources,
)
from tests.conftest import FAKE_SSH_KEY, RecordLab, stack_value

# web1's lan NAD (mtu 1500), which only web1 uses.
LAB_LAN_NAD = "macvtap-networks-" + nad_name(MacvtapAttachment(network="lan", mtu=1500))


def with_inputs(recording: Recording, name: str, edit: Callable[[dict[str, Any]], None]) -> Recording:
    """A copy of ``recording`` whose resource ``name`` has its inputs changed by ``edit``.

    For breakage the program's own config validation refuses to produce.
    """
    inputs = copy.deepcopy(dict(recording.named(name).inputs))
    edit(inputs)
    resources = [dataclasses.replace(r, inputs=inputs) if r.name == name else r for r in recording.resources]
    return dataclasses.replace(recording, resources=resources)


def interface(inputs: dict[str, Any], name: str) -> dict[str, Any]:
    """An interface of a VMI, or of a VirtualMachine's template."""
    spec = inputs["spec"]["template"]["spec"] if "template" in inputs["spec"] else inputs["spec"]
    interfaces: list[dict[str, Any]] = spec["domain"]["devices"]["interfaces"]
    [found] = [i for i in interfaces if i["name"] == name]
    return found


def check(recording: Recording, config: dict[str, Any] | None = None) -> PolicyReport:
    return run_policies(recording, load_policy_config(recording.stack) if config is None else config)


def found(report: PolicyReport) -> list[tuple[str, str | None]]:
    return [(v.policy, v.resource_name) for v in report.violations]


def with_lower_devices(stack: str, **capacities: int) -> dict[str, Any]:
    macvtap: dict[str, Any] = stack_value(stack, "macvtap")
    for device in macvtap["lowerDevices"]:
        device["capacity"] = capacities.get(device["name"], device["capacity"])
    return macvtap


# --- the real stacks ------------------------------------------------------------------------


def test_dev_passes_every_policy(dev: Recording) -> None:
    report = check(dev)
    assert report.violations == () and report.skipped == ()


def test_lab_passes_every_policy(lab: Recording) -> None:
    report = check(lab)
    assert report.violations == () and report.skipped == ()


def test_a_virtual_machine_stack_passes_every_policy() -> None:
    vms = stack_value("dev", "vms")
    vms[0].update(kind="VirtualMachine")
    vms[1].update(kind="VirtualMachine", runStrategy="Manual")
    recording = record_stack("dev", config_overrides={"kvm-in-a-pod:vms": vms})
    assert {r.type.rsplit(":", 1)[1] for r in recording.resources if r.type.startswith("kubernetes:kubevirt.io/v1:Virtual")} == {
        "VirtualMachine"
    }
    report = check(recording)
    assert report.violations == () and report.skipped == ()


def test_dev_passes_every_policy_in_preview() -> None:
    report = check(record_stack("dev", preview=True))
    assert report.violations == () and report.skipped == ()


def test_lab_passes_every_policy_in_preview(fake_cni_binary: Any) -> None:
    macvtap = stack_value("lab", "macvtap") | {"cniBinaryPath": str(fake_cni_binary)}
    preview = record_stack(
        "lab",
        config_overrides={"kvm-in-a-pod:macvtap": macvtap},
        secret_values={"kvm-in-a-pod:sshPrivateKey": FAKE_SSH_KEY},
        preview=True,
    )
    report = check(preview)
    assert report.violations == () and report.skipped == ()


@pytest.mark.parametrize(("stack", "nodes"), [("dev", 1.0), ("lab", 2.0)])
def test_config_files_are_valid_for_the_pack(stack: str, nodes: float) -> None:
    settings = reconcile_config(load_policy_config(stack))
    assert settings["macvtap-capacity"].properties == {"nodeCount": nodes}


def test_policies_see_the_recorded_graph_with_plain_secrets(lab: Recording) -> None:
    resources = {r.name: r for r in to_policy_resources(lab)}
    install = resources["macvtap-cni-node02-install"]
    assert install.parent is resources["macvtap-cni"]
    assert resources["macvtap-cni-node02-copy"] in install.dependencies
    assert install.props["connection"]["privateKey"] == FAKE_SSH_KEY
    assert install.props["connection"]["port"] == 2222


# --- broken stacks --------------------------------------------------------------------------


def test_dev_over_capacity_is_refused() -> None:
    broken = record_stack("dev", config_overrides={"kvm-in-a-pod:macvtap": with_lower_devices("dev", dataplane=1)})
    report = check(broken)
    assert found(report) == [("macvtap-capacity", "macvtap-config")]
    assert "request 2 interfaces" in report.violations[0].message
    assert "only 1 exist (capacity 1 per node x 1 node(s), from policy config nodeCount)" in report.violations[0].message


def test_lab_counts_nodes_from_its_node_installs(record_lab: RecordLab, fake_cni_binary: Any) -> None:
    macvtap = with_lower_devices("lab", lan=1) | {"cniBinaryPath": str(fake_cni_binary)}
    one_node = stack_value("lab", "nodes")[:1]
    report = check(record_lab(macvtap=macvtap, nodes=one_node))  # lab.json still says nodeCount 2
    assert found(report) == [("macvtap-capacity", "macvtap-config")]
    assert "x 1 node(s), from distinct hosts of the stack's NodeCniInstall commands" in report.violations[0].message


def test_nad_on_an_unknown_network_is_refused(lab: Recording) -> None:
    def unknown_network(inputs: dict[str, Any]) -> None:
        inputs["metadata"]["annotations"]["k8s.v1.cni.cncf.io/resourceName"] = "macvtap.network.kubevirt.io/wan"

    report = check(with_inputs(lab, LAB_LAN_NAD, unknown_network))
    assert found(report) == [("macvtap-resource-known", LAB_LAN_NAD)]


def test_duplicate_macs_are_refused(lab: Recording) -> None:
    web1_mac = interface(dict(lab.named("web1-vm").inputs), "macvtap0")["macAddress"]

    def same_mac(inputs: dict[str, Any]) -> None:
        interface(inputs, "macvtap0")["macAddress"] = web1_mac.upper()

    report = check(with_inputs(lab, "db1-vmi", same_mac))
    assert found(report) == [("macvtap-unique-macs", "web1-vm")]  # the later holder by name
    assert "VirtualMachineInstance db1 interface 'macvtap0'" in report.violations[0].message


def test_legacy_binding_is_refused(lab: Recording) -> None:
    def legacy(inputs: dict[str, Any]) -> None:
        iface = interface(inputs, "macvtap1")
        del iface["binding"]
        iface["macvtap"] = {}

    report = check(with_inputs(lab, "db1-vmi", legacy))
    assert found(report) == [("macvtap-no-legacy-binding", "db1-vmi")]


def test_too_many_interfaces_are_refused(record_lab: RecordLab) -> None:
    vms = stack_value("lab", "vms")
    vms[0]["macvtap"].append({"network": "lan"})
    report = check(record_lab(vms=vms))
    assert found(report) == [("macvtap-interfaces-per-vm", "web1-vm")]


def test_oversized_vm_is_refused_in_lab_but_fits_dev(record_lab: RecordLab) -> None:
    vms = stack_value("lab", "vms")
    vms[1]["memory"] = "32Gi"
    report = check(record_lab(vms=vms))
    assert found(report) == [("vm-resource-limits", "db1-vmi")]
    assert "32Gi" in report.violations[0].message and "16Gi" in report.violations[0].message

    dev_vms = stack_value("dev", "vms")
    dev_vms[1]["memory"] = "32Gi"
    assert check(record_stack("dev", config_overrides={"kvm-in-a-pod:vms": dev_vms})).violations == ()


# --- enforcement levels and config -----------------------------------------------------------


@pytest.fixture(scope="module")
def legacy_lab(lab: Recording) -> Recording:
    def legacy(inputs: dict[str, Any]) -> None:
        iface = interface(inputs, "macvtap0")
        del iface["binding"]
        iface["macvtap"] = {}

    return with_inputs(lab, "db1-vmi", legacy)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, [("macvtap-no-legacy-binding", "mandatory")]),
        ({"macvtap-no-legacy-binding": "advisory"}, [("macvtap-no-legacy-binding", "advisory")]),
        ({"macvtap-no-legacy-binding": {"enforcementLevel": "remediate"}}, [("macvtap-no-legacy-binding", "mandatory")]),
        ({"all": "disabled"}, []),
        ({"all": {"enforcementLevel": "advisory"}}, [("macvtap-no-legacy-binding", "advisory")]),
        ({"all": "disabled", "macvtap-no-legacy-binding": "mandatory"}, [("macvtap-no-legacy-binding", "mandatory")]),
    ],
)
def test_enforcement_levels_follow_the_config(legacy_lab: Recording, config: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    report = check(legacy_lab, config)
    assert [(v.policy, v.enforcement_level) for v in report.violations] == expected
    assert len(report.mandatory_violations) == sum(level == "mandatory" for _, level in expected)


def test_knobs_get_defaults_and_arrive_as_floats() -> None:
    settings = reconcile_config({"vm-resource-limits": {"maxCpuCores": 4}})
    assert settings["vm-resource-limits"].properties == {"maxMemory": "16Gi", "maxCpuCores": 4.0}
    assert settings["macvtap-interfaces-per-vm"].properties == {"maxMacvtapInterfaces": 2.0}
    assert settings["macvtap-unique-macs"] == PolicySettings(EnforcementLevel.MANDATORY, {})


def test_a_knob_without_default_stays_absent_until_set() -> None:
    assert reconcile_config({})["macvtap-capacity"].properties == {}
    assert reconcile_config({"macvtap-capacity": {"nodeCount": 3}})["macvtap-capacity"].properties == {"nodeCount": 3.0}


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"macvtap-capcity": {"nodeCount": 2}}, "unknown policy 'macvtap-capcity'"),
        ({"macvtap-capacity": {"nodes": 2}}, "unknown config knob 'nodes'"),
        ({"macvtap-capacity": {"nodeCount": "2"}}, "is not an integer"),
        ({"macvtap-capacity": {"nodeCount": 1.5}}, "is not an integer"),
        ({"macvtap-capacity": {"nodeCount": 0}}, "below the minimum 1"),
        ({"macvtap-capacity": {"nodeCount": None}}, "is not an integer"),
        ({"vm-resource-limits": {"maxMemory": "16 GB"}}, "does not match"),
        ({"vm-resource-limits": {"maxMemory": 16}}, "is not a string"),
        ({"macvtap-capacity": "strict"}, "not a valid enforcement level"),
        ({"macvtap-capacity": 2}, "must be a string or object"),
    ],
)
def test_config_mistakes_are_refused(config: dict[str, Any], error: str) -> None:
    with pytest.raises((ValueError, TypeError), match=error):
        reconcile_config(config)


# --- preview unknowns and the report --------------------------------------------------------


def test_a_policy_reading_an_unknown_value_is_skipped_with_a_note(dev: Recording) -> None:
    def unknown_config(inputs: dict[str, Any]) -> None:
        inputs["spec"]["config"] = rpc.UNKNOWN

    preview = with_inputs(dev, "macvtap-networks-dataplane", unknown_config)

    def reads_config(args: ResourceValidationArgs, report: Any) -> None:
        if args.resource_type.endswith(":NetworkAttachmentDefinition"):
            json.loads(args.props["spec"]["config"])

    naive = ResourceValidationPolicy("naive", "Reads spec.config without care.", reads_config)
    skipped = run_policies(preview, {}, policies=[naive]).skipped
    assert [(s.policy, s.urn) for s in skipped] == [("naive", preview.named("macvtap-networks-dataplane").urn)]
    assert "can't be known during preview" in skipped[0].reason

    report = check(preview)
    assert report.violations == () and report.skipped == ()


def test_report_serializes_to_json(legacy_lab: Recording) -> None:
    document = json.loads(json.dumps(check(legacy_lab).to_json()))
    assert document["stack"] == "lab" and document["pack"] == "macvtap-guardrails"
    assert document["mandatoryViolations"] == 1
    assert document["violations"][0]["policy"] == "macvtap-no-legacy-binding"
    assert document["violations"][0]["urn"] == legacy_lab.named("db1-vmi").urn


# --- the pack as the CLI runs it --------------------------------------------------------------


@pytest.fixture(scope="module")
def served_pack() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """policies/ started as pulumi-analyzer-policy-python starts it; it prints its port first."""
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."],
        cwd=PROJECT_ROOT / "policies",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)
        port = process.stdout.readline().strip() if ready else ""
        assert port.isdigit(), f"the pack did not start: {port!r}"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.kill()
        process.wait()


def test_served_pack_lists_its_policies_and_schemas(served_pack: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = served_pack.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == "macvtap-guardrails"
    schemas = {policy.name: json_format.MessageToDict(policy.configSchema) for policy in info.policies}
    assert len(schemas) == 12
    node_count = schemas["macvtap-capacity"]["properties"]["nodeCount"]
    assert node_count["type"] == "integer" and "default" not in node_count  # unset must stay unset


def test_served_pack_takes_the_stack_config_and_analyzes(served_pack: analyzer_pb2_grpc.AnalyzerStub, lab: Recording) -> None:
    levels = {"mandatory": analyzer_pb2.MANDATORY, "advisory": analyzer_pb2.ADVISORY, "disabled": analyzer_pb2.DISABLED}
    config = {}
    for name, settings in reconcile_config(load_policy_config("lab")).items():
        properties = struct_pb2.Struct()
        properties.update(settings.properties)
        config[name] = analyzer_pb2.PolicyConfig(enforcementLevel=levels[settings.enforcement_level.value], properties=properties)
    served_pack.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=config), timeout=30)

    vmi = lab.named("db1-vmi")
    oversized = copy.deepcopy(dict(vmi.inputs))
    oversized["spec"]["domain"]["resources"]["requests"]["memory"] = "17Gi"
    properties = struct_pb2.Struct()
    properties.update(oversized)
    response = served_pack.Analyze(
        analyzer_pb2.AnalyzeRequest(type=vmi.type, properties=properties, urn=vmi.urn, name=vmi.name), timeout=30
    )
    # The engine ties a resource policy's diagnostic to the analyzed resource itself.
    assert [(d.policyName, d.enforcementLevel) for d in response.diagnostics] == [("vm-resource-limits", analyzer_pb2.MANDATORY)]
    assert "17Gi" in response.diagnostics[0].message and "16Gi" in response.diagnostics[0].message
