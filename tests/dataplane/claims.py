"""What the dataplane claims check, for any stack's objects: shared by the dataplane suite and the
e2e suite's dataplane step (which runs them on what `pulumi up` put in the API server)."""

from __future__ import annotations

import os
from typing import Any

from tests.dataplane.cluster import Dataplane, RunningVm
from tests.dataplane.fixtures import REPORT
from tests.dataplane.guest import QEMU_UID


def assert_registers_exactly_the_nads_resources(dataplane: Dataplane, nodes: list[str]) -> None:
    objects = dataplane.objects
    configured = {entry.resource_name for entry in objects.device_plugin_config}
    named_by_nads = {nad.resource_name for nad in objects.nads.values()}
    assert named_by_nads == configured, f"NADs name {sorted(named_by_nads)}, the device plugin is configured for {sorted(configured)}"
    for node in nodes:
        kubelet = dataplane.kubelets[node]
        assert set(kubelet.endpoints) == configured, f"{node} registered {sorted(kubelet.endpoints)}"
        for entry in objects.device_plugin_config:
            devices = kubelet.wait_for_count(entry.resource_name, entry.capacity)
            assert [d.id for d in devices] == [f"{entry.name}Mvp{i}" for i in range(entry.capacity)]
            assert {d.health for d in devices} == {"Healthy"}


def assert_nics_are_as_the_objects_say(running: RunningVm, dataplane: Dataplane) -> None:
    reported = {nic["mac"]: nic for nic in running.guest.reported_nics().values()}
    for nic in running.nics:
        lower = dataplane.lan.segment_of(dataplane.objects.entry(nic.nad.resource_name).lower_device)
        want_mtu = int(nic.nad.config.get("mtu", lower.mtu))
        want_promiscuous = bool(nic.nad.config.get("promiscMode", False))
        where = f"{running.vm.name} {nic.nic.interface} ({nic.nic.pod_interface} in its pod)"
        assert nic.pod_link["address"] == nic.nic.mac, where
        assert nic.pod_link["mtu"] == want_mtu, where
        assert (nic.pod_link["promiscuity"] > 0) is want_promiscuous, where
        assert nic.pod_link["linkinfo"]["info_kind"] == "macvtap", where
        owner = os.stat(nic.tap)
        assert (owner.st_uid, owner.st_gid) == (QEMU_UID, QEMU_UID), f"{where}: {nic.tap} is owned by {owner.st_uid}:{owner.st_gid}"
        assert nic.nic.mac in reported, f"{where}: the guest has no NIC with MAC {nic.nic.mac}: {reported}"
        assert int(reported[nic.nic.mac]["mtu"]) == want_mtu, f"{where}: the guest's MTU"


def start(dataplane: Dataplane, scenario: str, placement: dict[str, str], **kwargs: Any) -> None:
    with REPORT.timed(scenario, f"{', '.join(f'{vm} on {node}' for vm, node in placement.items())}: Allocate, CNI ADD, boot"):
        for vm, node in placement.items():
            dataplane.start_vm(vm, node, **kwargs)
        dataplane.wait_guests(list(placement))


def move(dataplane: Dataplane, scenario: str, vm: str, node: str, **kwargs: Any) -> RunningVm:
    with REPORT.timed(scenario, f"{vm} stopped (CNI DEL), started on {node}"):
        dataplane.stop_vm(vm)
        running = dataplane.start_vm(vm, node, **kwargs)
        running.guest.wait_ready()
    return running


def lan_host(dataplane: Dataplane, network: str) -> str:
    entry = next(e for e in dataplane.objects.device_plugin_config if e.name == network)
    return dataplane.lan.segment_of(entry.lower_device).lan_host


def reach(dataplane: Dataplane, source: str, target: str, network: str, **kwargs: Any) -> bool:
    return dataplane.ping(source, dataplane.vms[target].nic_on(network).ip, **kwargs)
