"""The macvtap dataplane, for real, from the stacks' own objects (``make dataplane``).

Each stack's objects come from its offline plan, as shipped: the device plugin's config and
command, the NADs, the VM objects' MACs, and in ssh mode the node scripts that install the CNI.
The real device plugin and CNI run on nodes made of network namespaces; qemu boots each VM
(``cluster.py`` says who plays what).

Claims a user would check, each its own test, on ``dev`` and ``lab`` as shipped and on the
platform/team split:

1. the device plugin registers exactly the resource each NAD names in
   ``k8s.v1.cni.cncf.io/resourceName``, with ``capacity`` healthy devices; a network whose lower
   device is missing offers none (until the device appears);
2. every VM NIC ends up in its pod with the VM object's MAC, its NAD's MTU and promiscuous
   setting, and a tap owned by 107 (qemu), and the guest sees that MAC and MTU;
3. ``bridge``: two VMs on one node reach each other and the LAN host; ``vepa``: they reach each
   other only through the hairpin relay; ``private``: they reach only the LAN host; ``lab``'s
   MTU-9000 network carries an 8972-byte ping with DF set, end to end;
4. a VM on a second node reaches a VM on the first across the LAN;
5. without the MAC in CNI_ARGS the VM gets no traffic (why the program pins every MAC).

And the defects this suite found, each with the claim that shows it:

6. in ssh mode the plan's node script refuses a lower device whose MTU is below what its
   networks need, naming the node, the device and both MTUs;
7. the v0.13.1 device plugin cannot allocate a device whose name ``<network>Mvp<i>`` exceeds 15
   characters, and the longest network name the program accepts for a capacity still works;
8. a NAD MTU above the lower device's fails CNI ADD with "invalid argument" (what 6 prevents);
9. a CNI from another macvtap-cni release than the device plugin fails ("Link not found").

Each step prints its time; the session ends with the suite's summary (dev + lab target: under
3 minutes on 2 cores with emulation, reported there, never asserted).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from components.config import MacvtapConfig, max_network_name_length
from offline.stack_config import stack_config
from tests.dataplane import objects as stack_objects
from tests.dataplane.claims import (
    assert_nics_are_as_the_objects_say,
    assert_registers_exactly_the_nads_resources,
    lan_host,
    move,
    reach,
    start,
)
from tests.dataplane.cluster import CniError, Dataplane, staged_binary
from tests.dataplane.fixtures import REPORT, running_dataplane
from tests.dataplane.guest import GuestImage
from tests.dataplane.objects import LowerDeviceEntry, StackObjects
from tests.dataplane.prerequisites import OTHER_CNI_VARIABLE, DataplaneTools

NS = "kvm-in-a-pod:"


def shipped(stack: str, key: str) -> Any:
    """A key of ``Pulumi.<stack>.yaml`` as the CLI resolves it (a bare ``vms`` is ``kvm-in-a-pod:vms``)."""
    return stack_config(stack)[f"{NS}{key}"]


def with_cni_binary(stack: str, tools: DataplaneTools) -> dict[str, Any]:
    """An ssh-mode stack's macvtap key, its cniBinaryPath the CNI binary the dataplane runs."""
    return {**shipped(stack, "macvtap"), "cniBinaryPath": str(tools.cni)}


def staging_dirs(objects: StackObjects) -> list[str]:
    return sorted({os.path.dirname(staged_binary(script)) for script in objects.node_scripts.values()})


# --- dev ------------------------------------------------------------------------------------


@pytest.fixture(scope="class")
def dev(tools: DataplaneTools, guest_image: GuestImage, accelerator: str) -> Iterator[Dataplane]:
    with REPORT.scenario("dev"):
        with REPORT.timed("dev", "objects from the offline plan"):
            objects = stack_objects.from_plan("dev")
        # node03 starts without eth0: its network offers no device until the device appears.
        nodes = {"node01": (), "node02": (), "node03": ("eth0",)}
        with running_dataplane("dev", objects, tools, guest_image, accelerator, nodes) as dataplane:
            start(dataplane, "dev", {"vm1": "node01", "vm2": "node01"})
            yield dataplane


class TestDev:
    def test_device_plugin_registers_exactly_the_nads_resources_with_capacity_devices(self, dev: Dataplane) -> None:
        assert_registers_exactly_the_nads_resources(dev, ["node01", "node02"])

    def test_a_network_whose_lower_device_is_missing_offers_no_device_until_it_appears(self, dev: Dataplane) -> None:
        kubelet = dev.kubelets["node03"]
        resource = "macvtap.network.kubevirt.io/dataplane"
        assert resource in kubelet.endpoints, "the resource is registered even without its lower device"
        assert kubelet.healthy(resource) == []
        dev.lan.plug(dev.lan.nodes["node03"], dev.lan.segment_of("eth0"))
        assert len(kubelet.wait_for_count(resource, 50)) == 50

    def test_every_nic_has_the_vm_mac_nad_mtu_and_promiscuity_and_a_tap_owned_by_qemu(self, dev: Dataplane) -> None:
        for running in dev.vms.values():
            assert_nics_are_as_the_objects_say(running, dev)

    def test_bridge_vms_on_one_node_reach_each_other_and_the_lan_host(self, dev: Dataplane) -> None:
        assert reach(dev, "vm1", "vm2", "dataplane") and reach(dev, "vm2", "vm1", "dataplane")
        assert dev.ping("vm1", lan_host(dev, "dataplane")) and dev.ping("vm2", lan_host(dev, "dataplane"))
        assert dev.ping("lan", dev.vms["vm1"].nic_on("dataplane").ip)

    def test_a_vm_on_a_second_node_reaches_a_vm_on_the_first_across_the_lan(self, dev: Dataplane) -> None:
        move(dev, "dev", "vm2", "node02")
        assert reach(dev, "vm2", "vm1", "dataplane") and reach(dev, "vm1", "vm2", "dataplane")

    def test_without_the_mac_in_cni_args_the_vm_gets_no_traffic(self, dev: Dataplane) -> None:
        running = move(dev, "dev", "vm2", "node02", send_mac=False)
        (nic,) = running.nics
        assert nic.pod_link["address"] != nic.nic.mac, "the macvtap kept the kernel's random MAC"
        assert nic.nic.mac in {n["mac"] for n in running.guest.reported_nics().values()}, "the guest still uses the VM object's MAC"
        assert not dev.ping("vm2", lan_host(dev, "dataplane"))
        assert not reach(dev, "vm1", "vm2", "dataplane")


# --- dev with a private network ---------------------------------------------------------------


@pytest.fixture(scope="class")
def dev_private(tools: DataplaneTools, guest_image: GuestImage, accelerator: str) -> Iterator[Dataplane]:
    with REPORT.scenario("private"):
        macvtap = shipped("dev", "macvtap")
        macvtap["lowerDevices"] = [{**device, "mode": "private"} for device in macvtap["lowerDevices"]]
        with REPORT.timed("private", "objects from the offline plan (dev, mode private)"):
            objects = stack_objects.from_plan("dev", {f"{NS}macvtap": macvtap})
        with running_dataplane("private", objects, tools, guest_image, accelerator, {"node01": ()}) as dataplane:
            start(dataplane, "private", {"vm1": "node01", "vm2": "node01"})
            yield dataplane


class TestPrivate:
    def test_private_vms_on_one_node_reach_only_the_lan_host_even_with_a_hairpin_relay(self, dev_private: Dataplane) -> None:
        dev_private.lan.set_hairpin(dev_private.lan.segment_of("eth0"), True)
        assert dev_private.ping("vm1", lan_host(dev_private, "dataplane")) and dev_private.ping("vm2", lan_host(dev_private, "dataplane"))
        assert not reach(dev_private, "vm1", "vm2", "dataplane")
        assert not reach(dev_private, "vm2", "vm1", "dataplane")


# --- lab ------------------------------------------------------------------------------------


@pytest.fixture(scope="class")
def lab(tools: DataplaneTools, guest_image: GuestImage, accelerator: str) -> Iterator[Dataplane]:
    with REPORT.scenario("lab"):
        with REPORT.timed("lab", "objects from the offline plan"):
            objects = stack_objects.from_plan("lab", {f"{NS}macvtap": with_cni_binary("lab", tools)})
        nodes = {name: () for name in objects.nodes}
        with running_dataplane("lab", objects, tools, guest_image, accelerator, nodes, private_dirs=staging_dirs(objects)) as dataplane:
            start(dataplane, "lab", {"web1": "node01", "db1": "node01"})
            yield dataplane


class TestLab:
    def test_nodes_got_the_binary_through_the_plans_node_scripts(self, lab: Dataplane, tools: DataplaneTools) -> None:
        want = tools.cni.read_bytes()
        for node in lab.lan.nodes.values():
            assert node.holder is not None
            installed = Path(f"/proc/{node.holder.pid}/root/opt/cni/bin/macvtap")
            assert installed.read_bytes() == want, node.name

    def test_device_plugin_registers_exactly_the_nads_resources_with_capacity_devices(self, lab: Dataplane) -> None:
        assert_registers_exactly_the_nads_resources(lab, ["node01", "node02"])

    def test_every_nic_has_the_vm_mac_nad_mtu_and_promiscuity_and_a_tap_owned_by_qemu(self, lab: Dataplane) -> None:
        for running in lab.vms.values():
            assert_nics_are_as_the_objects_say(running, lab)
        assert lab.vms["web1"].nic_on("lan").pod_link["address"] == shipped("lab", "vms")[0]["macvtap"][0]["mac"]
        assert lab.vms["db1"].nic_on("lan").pod_link["promiscuity"] > 0

    def test_bridge_vms_on_one_node_reach_each_other_and_the_lan_host(self, lab: Dataplane) -> None:
        assert reach(lab, "web1", "db1", "lan") and reach(lab, "db1", "web1", "lan")
        assert lab.ping("web1", lan_host(lab, "lan")) and lab.ping("db1", lan_host(lab, "lan"))

    def test_vepa_vms_on_one_node_reach_each_other_only_through_the_hairpin_relay(self, lab: Dataplane) -> None:
        storage = lab.lan.segment_of("eno3")
        lab.lan.set_hairpin(storage, True)
        assert reach(lab, "web1", "db1", "storage") and reach(lab, "db1", "web1", "storage")
        lab.lan.set_hairpin(storage, False)
        try:
            assert not reach(lab, "web1", "db1", "storage")
            assert lab.ping("web1", lan_host(lab, "storage")), "the LAN host is reached without a relay"
        finally:
            lab.lan.set_hairpin(storage, True)

    def test_the_mtu_9000_network_carries_an_8972_byte_ping_with_df_set_end_to_end(self, lab: Dataplane) -> None:
        jumbo: dict[str, Any] = {"size": 8972, "dont_fragment": True}
        assert reach(lab, "web1", "db1", "storage", **jumbo)
        assert lab.ping("web1", lan_host(lab, "storage"), **jumbo)
        assert lab.ping("lan", lab.vms["db1"].nic_on("storage").ip, **jumbo)
        # One byte more does not fit the 9000-byte MTU, and the 1500-byte network refuses the jumbo frame.
        assert not lab.ping("web1", lan_host(lab, "storage"), size=8973, dont_fragment=True, count=1)
        assert not reach(lab, "web1", "db1", "lan", **jumbo)

    def test_the_node_script_refuses_a_lower_device_below_the_mtu_its_networks_need(self, lab: Dataplane) -> None:
        node = lab.lan.nodes["node02"]
        node.run(["ip", "link", "set", "eno3", "mtu", "1500"])
        try:
            with pytest.raises(RuntimeError) as refused:
                lab.install_cni(node)
            assert "node node02: ERROR: lower device eno3 has MTU 1500, below the 9000 its macvtap networks need" in str(refused.value)
        finally:
            node.run(["ip", "link", "set", "eno3", "mtu", "9000"])
        lab.install_cni(node)

    def test_a_vm_on_a_second_node_reaches_a_vm_on_the_first_across_the_lan(self, lab: Dataplane) -> None:
        move(lab, "lab", "db1", "node02")
        assert reach(lab, "web1", "db1", "lan") and reach(lab, "db1", "web1", "lan")
        assert reach(lab, "web1", "db1", "storage", size=8972, dont_fragment=True)


# --- the platform/team split ------------------------------------------------------------------


@pytest.fixture(scope="class")
def split(tools: DataplaneTools, guest_image: GuestImage, accelerator: str) -> Iterator[Dataplane]:
    with REPORT.scenario("split"):
        platform_macvtap = {f"{NS}macvtap": with_cni_binary("platform", tools)}
        with REPORT.timed("split", "objects from the offline plans of platform, team-a, team-b"):
            parts = [
                stack_objects.from_plan("platform", platform_macvtap),
                stack_objects.from_plan("team-a", platform_overrides=platform_macvtap),
                stack_objects.from_plan("team-b", platform_overrides=platform_macvtap),
            ]
            objects = stack_objects.combine(parts)
        nodes = {name: () for name in objects.nodes}
        with running_dataplane("split", objects, tools, guest_image, accelerator, nodes, private_dirs=staging_dirs(objects)) as dataplane:
            start(dataplane, "split", {"web1": "node01", "web2": "node01", "db1": "node02"})
            yield dataplane


class TestSplit:
    def test_the_platforms_device_plugin_registers_exactly_the_resources_the_teams_nads_name(self, split: Dataplane) -> None:
        assert {vm.namespace for vm in split.objects.vms} == {"team-a", "team-b"}
        assert_registers_exactly_the_nads_resources(split, ["node01", "node02"])

    def test_every_nic_has_the_vm_mac_nad_mtu_and_promiscuity_and_a_tap_owned_by_qemu(self, split: Dataplane) -> None:
        for running in split.vms.values():
            assert_nics_are_as_the_objects_say(running, split)

    def test_team_vms_on_one_node_reach_each_other_and_the_lan_host(self, split: Dataplane) -> None:
        assert reach(split, "web1", "web2", "lan") and reach(split, "web2", "web1", "lan")
        assert split.ping("web2", lan_host(split, "lan"))

    def test_a_vm_of_one_team_reaches_a_vm_of_the_other_on_a_second_node(self, split: Dataplane) -> None:
        assert reach(split, "web1", "db1", "lan") and reach(split, "db1", "web1", "lan")


# --- defects found on the way -----------------------------------------------------------------

LONG_CAPACITY = 11  # device indexes 0..10: the last one has two digits


@pytest.fixture(scope="class")
def defects(tools: DataplaneTools, guest_image: GuestImage, accelerator: str) -> Iterator[Dataplane]:
    with REPORT.scenario("defects"):
        vms = [
            {"name": "plain", "macvtap": [{"network": "dataplane"}]},
            {"name": "jumbo", "macvtap": [{"network": "dataplane", "mtu": 9000}]},
        ]
        with REPORT.timed("defects", "objects from the offline plan (dev with two VMs)"):
            objects = stack_objects.from_plan("dev", {f"{NS}vms": vms})
        image = MacvtapConfig.model_validate(shipped("dev", "macvtap")).image
        longest = max_network_name_length(image, LONG_CAPACITY)
        # Written here, not by the program: the program refuses the second name (claim 6).
        entries = [LowerDeviceEntry(name, "eth0", "bridge", LONG_CAPACITY) for name in ("x" * longest, "x" * (longest + 1))]
        objects = dataclasses.replace(objects, device_plugin_config=(*objects.device_plugin_config, *entries))
        # eth0 at 1500 whatever the NADs ask for (claim 7).
        with running_dataplane(
            "defects", objects, tools, guest_image, accelerator, {"node01": ()}, lower_devices={"eth0": (1500, False)}
        ) as dataplane:
            yield dataplane


class TestDefects:
    def test_the_longest_network_name_the_program_accepts_is_the_plugins_limit(self, defects: Dataplane) -> None:
        kubelet = defects.kubelets["node01"]
        accepted, refused = (entry for entry in defects.objects.device_plugin_config if entry.name.startswith("x"))
        last = LONG_CAPACITY - 1
        for entry in (accepted, refused):
            kubelet.wait_for_count(entry.resource_name, LONG_CAPACITY)
        response = kubelet.allocate(accepted.resource_name, [f"{accepted.name}Mvp{last}"])
        assert response.container_responses[0].devices[0].host_path.startswith("/dev/tap")
        with pytest.raises(grpc.RpcError) as failure:
            kubelet.allocate(refused.resource_name, [f"{refused.name}Mvp{last}"])
        assert "numerical result out of range" in str(failure.value.details())

    def test_a_nad_mtu_above_the_lower_devices_fails_cni_add_with_invalid_argument(self, defects: Dataplane) -> None:
        with pytest.raises(CniError) as failure:
            defects.start_vm("jumbo", "node01")
        assert "invalid argument" in failure.value.result.error

    def test_a_cni_from_another_release_than_the_device_plugin_fails(self, defects: Dataplane, tools: DataplaneTools) -> None:
        if tools.other_cni is None:
            pytest.skip(f"set {OTHER_CNI_VARIABLE} to a macvtap CNI binary of another macvtap-cni release (e.g. main) to show this")
        node = defects.lan.nodes["node01"]
        node.install_cni_binary(tools.other_cni)
        try:
            with pytest.raises(CniError) as failure:
                defects.start_vm("plain", "node01")
            assert "Link not found" in failure.value.result.error
        finally:
            node.install_cni_binary(tools.cni)
        assert defects.start_vm("plain", "node01").nics[0].pod_link["address"] == defects.objects.vm("plain").nics[0].mac


# --- any stack: make dataplane STACK=<name> -----------------------------------------------------

YOUR_STACK = os.environ.get("KVM_DATAPLANE_STACK", "")


@pytest.fixture(scope="class")
def your_stack(tools: DataplaneTools, guest_image: GuestImage, accelerator: str) -> Iterator[Dataplane]:
    """Your stack's plan, its VMs all on its first node; its own nodes in ssh mode, else two."""
    if not YOUR_STACK:
        pytest.skip("no KVM_DATAPLANE_STACK (make dataplane STACK=<name> runs these claims on your stack)")
    with REPORT.scenario(YOUR_STACK):
        config = stack_config(YOUR_STACK)
        macvtap = config.get(f"{NS}macvtap")
        ssh = isinstance(macvtap, dict) and macvtap.get("cniInstall") == "ssh"
        overrides = {f"{NS}macvtap": {**macvtap, "cniBinaryPath": str(tools.cni)}} if isinstance(macvtap, dict) and ssh else {}
        with REPORT.timed(YOUR_STACK, "objects from the offline plan"):
            objects = stack_objects.from_plan(YOUR_STACK, overrides)
        if not objects.device_plugin_config or not objects.vms:
            pytest.skip(f"{YOUR_STACK} has no device plugin or no VMs: plan its platform with its vms stacks as TestSplit does")
        nodes = {name: () for name in objects.nodes or ("node01", "node02")}
        with running_dataplane(
            YOUR_STACK, objects, tools, guest_image, accelerator, nodes, private_dirs=staging_dirs(objects)
        ) as dataplane:
            start(dataplane, YOUR_STACK, dict.fromkeys((vm.name for vm in objects.vms), next(iter(nodes))))
            yield dataplane


class TestYourStack:
    def test_device_plugin_registers_exactly_the_nads_resources_with_capacity_devices(self, your_stack: Dataplane) -> None:
        assert_registers_exactly_the_nads_resources(your_stack, list(your_stack.lan.nodes))

    def test_every_nic_has_the_vm_mac_nad_mtu_and_promiscuity_and_a_tap_owned_by_qemu(self, your_stack: Dataplane) -> None:
        for running in your_stack.vms.values():
            assert_nics_are_as_the_objects_say(running, your_stack)

    def test_every_vm_reaches_the_lan_host_and_its_neighbours_as_its_networks_mode_says(self, your_stack: Dataplane) -> None:
        """bridge: VMs on one node reach each other; vepa: through the relay (on here); private: never."""
        for segment in your_stack.lan.segments:
            your_stack.lan.set_hairpin(segment, True)
        for source in your_stack.vms.values():
            for nic in source.nics:
                entry = your_stack.objects.entry(nic.nad.resource_name)
                assert your_stack.ping(source.vm.name, lan_host(your_stack, entry.name)), f"{source.vm.name} -> LAN host on {entry.name}"
                for target in your_stack.vms.values():
                    if target is source or not any(n.nad.resource_name == nic.nad.resource_name for n in target.nics):
                        continue
                    reached = reach(your_stack, source.vm.name, target.vm.name, entry.name)
                    assert reached is (entry.mode != "private"), f"{source.vm.name} -> {target.vm.name} on {entry.name} ({entry.mode})"
