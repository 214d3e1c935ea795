"""Claims about MacvtapNetworks and MacvtapVM in a Python program of one's own (the components' Python API).

The programs here run under the recording engine, as the stacks do:

- a program that reads the platform stack's ``macvtapPlatform`` through a StackReference and
  creates team-b's VM registers exactly the NADs and VM object the team-b stack registers (same
  names, same inputs), and its VM object waits for the NADs through the ``nads`` output;
- the VM's outputs are what the stack's ``vms`` output says of it;
- bad arguments are refused with the input's path and the stack config's own words for the same
  mistake, naming the component, and register no Kubernetes object; so are arguments that are
  Outputs (a StackReference's), once they resolve;
- a NIC whose NAD is not in ``nads`` is refused, naming the NAD;
- the console password is checked without being repeated and is a secret input of the Secret only,
  even when the program passes it as plain text;
- a VMI given no provider gets a client-side-apply provider of its own, from the stack's
  ``kubernetes:`` config, even when the components are given a kubernetes provider, which the
  NADs and the Secret use; ``dependsOn`` given to a component reaches the objects it registers;
- in the component provider, a refusal is an ``InputPropertiesError`` with one entry per input
  path, where the console password is named in the message only (the engine prints an entry's
  value), and a console password that is not a secret is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.errors import InputPropertiesError

from components import interface
from components.config import ConfigError, parse_stack_config
from components.macvtap_networks import MacvtapNetworks
from components.macvtap_vm import MacvtapVM
from components.macvtap_vm.component import SECRET_REQUIRED
from components.platform_export import MacvtapNetwork
from offline.engine import Recording, is_secret, record_callable, record_stack
from tests.conftest import FAKE_SSH_KEY, SSH_KEY_CONFIG, stack_value
from tests.recorded import NAD, VMI, inputs

PLATFORM = "organization/kvm-in-a-pod/platform"
TEAM_B_VM: dict[str, Any] = stack_value("team-b", "vms")[0]
NETWORKS: dict[str, MacvtapNetwork] = {
    "lan": {"resourceName": "macvtap.network.kubevirt.io/lan", "capacityPerNode": 10, "lowerDevice": "eth0", "mode": "bridge"},
    "storage": {"resourceName": "macvtap.network.kubevirt.io/storage", "capacityPerNode": 10, "lowerDevice": "eth1", "mode": "vepa"},
}
PASSWORD = "correct-horse-battery"
SECRET_TYPE = "kubernetes:core/v1:Secret"


@pytest.fixture(scope="module")
def platform_outputs(fake_cni_binary: Path) -> dict[str, Any]:
    macvtap: dict[str, Any] = stack_value("platform", "macvtap")
    macvtap["cniBinaryPath"] = str(fake_cni_binary)
    recording = record_stack("platform", config_overrides={"kvm-in-a-pod:macvtap": macvtap}, secret_values={SSH_KEY_CONFIG: FAKE_SSH_KEY})
    return dict(recording.outputs)


def team_b_program(**vm_overrides: Any) -> Callable[[], None]:
    """team-b's VM as a program of its own: the platform's networks from a StackReference, its NADs, its VM."""

    def program() -> None:
        platform = pulumi.StackReference("platform", PLATFORM)
        nics = TEAM_B_VM["macvtap"]
        networks = MacvtapNetworks(
            "macvtap-networks",
            {"namespace": "team-b", "networks": platform.get_output("macvtapPlatform").apply(lambda p: p["networks"]), "macvtap": nics},
        )
        vm = MacvtapVM("db1", {**TEAM_B_VM, "namespace": "team-b", "nads": networks.nads, **vm_overrides})  # type: ignore[typeddict-item]
        pulumi.export("db1", {"macs": vm.macs, "nads": vm.nads, "virtctl": vm.virtctl, "onChange": vm.on_change})

    return program


def record(program: Callable[[], None], outputs: dict[str, Any] | None = None, *, into: Recording | None = None) -> Recording:
    return record_callable(program, {}, stack="team-b", stack_outputs={PLATFORM: outputs or {}}, into=into)


@pytest.fixture(scope="module")
def own_program(platform_outputs: dict[str, Any]) -> Recording:
    return record(team_b_program(), platform_outputs)


@pytest.fixture(scope="module")
def team_b(platform_outputs: dict[str, Any]) -> Recording:
    return record_stack("team-b", stack_outputs={PLATFORM: platform_outputs})


def refused(program: Callable[[], None], outputs: dict[str, Any] | None = None) -> tuple[str, Recording]:
    """The refusal's message and what was registered before it."""
    partial = Recording(stack="team-b")
    with pytest.raises(pulumi.RunError) as error:
        record(program, outputs, into=partial)
    return str(error.value), partial


def kubernetes_objects(recording: Recording) -> list[str]:
    return [r.name for r in recording.resources if r.custom and r.type.startswith("kubernetes:") and "providers" not in r.type]


def vm_program(**args: Any) -> Callable[[], None]:
    def program() -> None:
        MacvtapVM("vm1", {"macvtap": [{"network": "lan"}], "nads": {"lan": "{}"}, **args})  # type: ignore[typeddict-item]

    return program


def config_problem(vm: dict[str, Any], **stack: Any) -> tuple[str, str]:
    """The stack config's one problem with ``vm`` as its only VM (path without the VM's prefix)."""
    values = {"macvtap": {"lowerDevices": [{"name": "lan", "lowerDevice": "eth0"}]}, "vms": [vm], **stack}
    with pytest.raises(ConfigError) as error:
        parse_stack_config(values, secret_keys=frozenset({"kvm-in-a-pod:consolePassword"}))
    ((path, message),) = error.value.problems
    # The component's paths are its inputs', relative to the VM: vms[0].macvtap[0].mac is macvtap[0].mac.
    return path.removeprefix("kvm-in-a-pod:").removeprefix("vms[0]."), message.replace("kvm-in-a-pod:vms[0].", "").replace(
        "kvm-in-a-pod:", ""
    )


# --- a program of one's own renders what the stack renders ----------------------------------


def test_a_program_of_its_own_registers_the_nads_and_vm_of_the_stack(own_program: Recording, team_b: Recording) -> None:
    def objects(recording: Recording) -> dict[str, dict[str, Any]]:
        return {r.name: inputs(recording, r.name) for r in recording.resources if r.type in (NAD, VMI)}

    assert objects(own_program) == objects(team_b)
    assert sorted(objects(own_program)) == ["db1-vmi", "macvtap-networks-lan-a42548", "macvtap-networks-storage-9441e8"]


def test_the_vm_object_waits_for_the_nads_through_the_nads_output(own_program: Recording) -> None:
    nads = {r.urn for r in own_program.of_type(NAD)}
    assert set(own_program.named("db1-vmi").dependencies) >= nads


def test_the_vms_outputs_are_what_the_stacks_vms_output_says(own_program: Recording, team_b: Recording) -> None:
    stack = team_b.outputs["vms"]["db1"]
    assert own_program.outputs["db1"] == {
        "macs": stack["macs"],
        "nads": stack["nads"],
        "virtctl": {"console": stack["console"]},
        "onChange": stack["onChange"],
    }


# --- refusals --------------------------------------------------------------------------------


def test_an_unknown_network_is_refused_at_its_path_before_anything_is_registered() -> None:
    def program() -> None:
        MacvtapNetworks("nets", {"networks": NETWORKS, "macvtap": [{"network": "lan"}, {"network": "dmz"}]})

    message, partial = refused(program)
    assert message == (
        "invalid arguments of MacvtapNetworks 'nets':\n"
        "  macvtap[1].network: 'dmz' is not a macvtap network; allowed: lan, storage (the networks given in networks)"
    )
    assert partial.resources == []


def test_a_bad_mac_is_refused_at_its_path_with_the_configs_words() -> None:
    message, partial = refused(vm_program(macvtap=[{"network": "lan", "mac": "zz"}]))
    path, words = config_problem({"name": "vm1", "macvtap": [{"network": "lan", "mac": "zz"}]})
    assert message == f"invalid arguments of MacvtapVM 'vm1':\n  {path}: {words}" and path == "macvtap[0].mac"
    assert partial.resources == []


@pytest.mark.parametrize(
    ("mistake", "vm", "stack"),
    [
        ("run strategy of a VMI", {"runStrategy": "Halted"}, {}),
        ("unknown kind of run strategy", {"kind": "VirtualMachine", "runStrategy": "Once"}, {}),
        ("no cores", {"cpuCores": 0}, {}),
        ("memory that is no quantity", {"memory": "lots"}, {}),
        ("a misspelt key", {"cpuCount": 2}, {}),
        ("a key that is no SSH key", {"sshAuthorizedKeys": ["hunter2"]}, {}),
        ("the same MAC twice", {"macvtap": [{"network": "lan", "mac": "02:00:00:00:00:01"}] * 2}, {}),
        ("user data with a console password", {"userData": "#cloud-config\n"}, {"consolePassword": PASSWORD}),
    ],
)
def test_a_vms_arguments_are_refused_for_the_configs_reasons_in_its_words(mistake: str, vm: dict[str, Any], stack: dict[str, Any]) -> None:
    args = {**vm, **({"consolePassword": stack["consolePassword"]} if stack else {})}
    if "macvtap" in vm:
        args["nads"] = {"lan": "{}"}
    message, partial = refused(vm_program(**args))
    path, words = config_problem({"name": "vm1", "macvtap": [{"network": "lan"}], **vm}, **stack)
    assert message == f"invalid arguments of MacvtapVM 'vm1':\n  {path}: {words}", mistake
    assert kubernetes_objects(partial) == []


def test_a_namespace_that_is_no_dns_label_is_refused_as_the_configs_vm_namespace() -> None:
    message, _ = refused(vm_program(namespace="Team_B"))
    path, words = config_problem({"name": "vm1", "macvtap": [{"network": "lan"}]}, vmNamespace="Team_B")
    assert (path, message) == ("vmNamespace", f"invalid arguments of MacvtapVM 'vm1':\n  namespace: {words}")


def test_output_arguments_are_refused_when_they_resolve_and_no_kubernetes_object_is_registered(platform_outputs: dict[str, Any]) -> None:
    message, partial = refused(team_b_program(macvtap=[{"network": "storage", "mtu": 9000, "mac": "01:00:00:00:00:01"}]), platform_outputs)
    assert "invalid arguments of MacvtapVM 'db1':\n  macvtap[0].mac: '01:00:00:00:00:01' is a multicast address" in message
    assert "db1-vmi" not in kubernetes_objects(partial)


def test_a_nic_whose_nad_is_not_in_nads_is_refused_naming_the_nad() -> None:
    message, _ = refused(vm_program(macvtap=[{"network": "lan"}, {"network": "lan", "mtu": 1400}]))
    assert message.startswith("invalid arguments of MacvtapVM 'vm1':\n  macvtap[1].network: goes through the NAD 'lan-")
    assert "which nads does not hold (it holds: lan)" in message


# --- the console password --------------------------------------------------------------------


def test_a_short_console_password_is_refused_without_repeating_it() -> None:
    message, partial = refused(vm_program(consolePassword="hunter2"))
    assert message == "invalid arguments of MacvtapVM 'vm1':\n  consolePassword: must be 8 to 128 characters long (it has 7)"
    assert partial.resources == []


def test_a_plain_text_console_password_is_a_secret_input_of_the_secret_only() -> None:
    recording = record(vm_program(consolePassword=PASSWORD))
    (secret,) = recording.of_type(SECRET_TYPE)
    assert is_secret(secret.inputs["stringData"]) and PASSWORD in json.dumps(secret.inputs["stringData"])
    others = [r for r in recording.resources if r.type != SECRET_TYPE]
    assert all(PASSWORD not in json.dumps(r.inputs) for r in others)
    assert recording.named("vm1-vmi").inputs["spec"]["volumes"][1]["cloudInitNoCloud"]["secretRef"] == {"name": "vm1-cloud-init"}


# --- providers and ordering ------------------------------------------------------------------


def test_a_vmi_given_no_provider_gets_a_client_side_apply_provider_of_its_own_from_the_stack_config() -> None:
    recording = record_callable(vm_program(), {"kubernetes:renderYamlToDirectory": "out"}, stack="team-b")
    provider = recording.named("vm1-vmi-client-side-apply")
    assert provider.parent == recording.named("vm1").urn
    assert (provider.inputs["enableServerSideApply"], provider.inputs["renderYamlToDirectory"]) == ("false", "out")
    assert recording.named("vm1-vmi").provider.startswith(provider.urn)


def test_a_provider_given_through_providers_reaches_the_nads_and_the_secret_but_a_vmi_keeps_its_own() -> None:
    def program() -> None:
        cluster = pulumi.ProviderResource("kubernetes", "cluster")
        options = pulumi.ResourceOptions(providers=[cluster])
        networks = MacvtapNetworks("nets", {"networks": NETWORKS, "macvtap": [{"network": "lan"}]}, options)
        MacvtapVM("vm1", {"macvtap": [{"network": "lan"}], "nads": networks.nads, "consolePassword": PASSWORD}, options)

    recording = record(program)
    cluster = recording.named("cluster").urn
    assert recording.named("nets-lan").provider.startswith(cluster) and recording.named("vm1-cloud-init").provider.startswith(cluster)
    assert recording.named("vm1-vmi").provider.startswith(recording.named("vm1-vmi-client-side-apply").urn)


def test_depends_on_given_to_the_components_reaches_their_objects() -> None:
    def program() -> None:
        gate = pulumi.CustomResource("test:index:Gate", "gate")
        networks = MacvtapNetworks(
            "nets", {"networks": NETWORKS, "macvtap": [{"network": "lan"}]}, pulumi.ResourceOptions(depends_on=[gate])
        )
        MacvtapVM(
            "vm1",
            {"macvtap": [{"network": "lan"}], "nads": networks.nads, "consolePassword": PASSWORD},
            pulumi.ResourceOptions(depends_on=[gate]),
        )

    recording = record(program)
    gate = recording.named("gate").urn
    assert all(gate in recording.named(name).dependencies for name in ("nets-lan", "vm1-cloud-init", "vm1-vmi"))


# --- in the component provider ---------------------------------------------------------------


@pytest.fixture
def hosted() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(interface, "_hosted", True)
        yield


@pytest.mark.usefixtures("hosted")
def test_hosted_a_refusal_lists_each_input_path_and_names_the_password_in_the_message_only() -> None:
    error = interface.refusal("MacvtapVM", "vm1", [("macvtap[0].mac", "bad"), ("consolePassword", "too short")])
    assert isinstance(error, InputPropertiesError)
    assert (error.message, error.errors) == (
        "invalid arguments; consolePassword: too short",
        [{"property_path": "macvtap[0].mac", "reason": "bad"}],
    )


@pytest.mark.usefixtures("hosted")
def test_hosted_a_console_password_that_is_no_secret_is_refused() -> None:
    with pytest.raises(InputPropertiesError) as error:
        record(vm_program(consolePassword=PASSWORD))
    assert error.value.message == f"invalid arguments; consolePassword: {SECRET_REQUIRED}"
