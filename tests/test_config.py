"""Claims a user checks about stack configuration.

- Every invalid value is refused with a pulumi.RunError naming the full key path and what
  is allowed, before any resource is registered.
- All problems are reported at once, not one per `pulumi up`: field errors and cross-reference
  errors (unknown network, duplicate MAC) together, each with its key path.
- A value stored encrypted (`secure:`) is refused with a clean error unless it is the SSH key,
  the one value the program keeps secret; never a traceback.
- Defaults match the README's config reference (KubeVirt v1.9.0, Multus v4.3.0, macvtap-cni
  v0.13.1, the Fedora 43 container disk (a pinned tag), 1024M, 1 core, bridge mode, capacity 100, kind
  VirtualMachineInstance; a VirtualMachine runs with runStrategy Always).
- A bad `kind` or `runStrategy` is refused with the allowed values; a runStrategy on a VMI
  (which always runs) is refused rather than ignored.
- The SSH key must be stored as a secret, and never shows in a config object's repr.
- A network name must leave room, within Linux's 15-character interface names, for the device
  names the stack's device plugin makes from it (`<network>Mvp<capacity - 1>` up to macvtap-cni
  v0.13.1): the limit follows the capacity and the image's release, and a longer name is
  refused at its key path.
- A node's ``hostKey`` pasted as ``ssh-keyscan`` prints it (``<host> ssh-ed25519 AAAA...``) keeps
  the key and drops the host column; a bad hostKey of the only node gives that error alone, not
  also "nodes: is required".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.config import ConfigError, StackConfig, parse_stack_config
from offline.engine import Recording, record_stack
from tests.conftest import FAKE_SSH_KEY, SSH_KEY_CONFIG, RecordLab, stack_value

DEV_MACVTAP = {"lowerDevices": [{"name": "dataplane", "lowerDevice": "eth0"}]}


def minimal(**values: Any) -> dict[str, Any]:
    return {"macvtap": DEV_MACVTAP, **values}


def vm(**fields: Any) -> dict[str, Any]:
    return {"name": "vm1", "macvtap": [{"network": "dataplane"}], **fields}


def lab_macvtap(binary: Path, **fields: Any) -> dict[str, Any]:
    macvtap: dict[str, Any] = stack_value("lab", "macvtap")
    macvtap["cniBinaryPath"] = str(binary)
    macvtap.update(fields)
    return macvtap


# (dev-stack overrides, expected key path, words the message must contain)
BAD_DEV_CONFIGS: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown network", {"vms": [vm(macvtap=[{"network": "storage"}])]}, "kvm-in-a-pod:vms[0].macvtap[0].network", "allowed: dataplane"),
    (
        "second VM's unknown network",
        {"vms": [vm(), vm(name="vm2", macvtap=[{"network": "dataplane"}, {"network": "lan"}])]},
        "kvm-in-a-pod:vms[1].macvtap[1].network",
        "'lan' is not a macvtap network",
    ),
    ("duplicate VM names", {"vms": [vm(), vm()]}, "kvm-in-a-pod:vms[1].name", "duplicate VM name 'vm1'"),
    ("VM name not DNS-1123", {"vms": [vm(name="VM_1")]}, "kvm-in-a-pod:vms[0].name", "DNS-1123"),
    (
        "malformed MAC",
        {"vms": [vm(macvtap=[{"network": "dataplane", "mac": "02:00:00:00:00"}])]},
        "kvm-in-a-pod:vms[0].macvtap[0].mac",
        "not a MAC address",
    ),
    (
        "multicast MAC",
        {"vms": [vm(macvtap=[{"network": "dataplane", "mac": "01:00:5e:00:00:01"}])]},
        "kvm-in-a-pod:vms[0].macvtap[0].mac",
        "multicast",
    ),
    (
        "duplicate MAC across VMs",
        {
            "vms": [
                vm(macvtap=[{"network": "dataplane", "mac": "02:00:00:00:00:01"}]),
                vm(name="vm2", macvtap=[{"network": "dataplane", "mac": "02:00:00:00:00:01"}]),
            ]
        },
        "kvm-in-a-pod:vms[1].macvtap[0].mac",
        "already used by kvm-in-a-pod:vms[0].macvtap[0].mac",
    ),
    (
        "passthru mode",
        {"macvtap": {"lowerDevices": [{"name": "dataplane", "lowerDevice": "eth0", "mode": "passthru"}]}},
        "kvm-in-a-pod:macvtap.lowerDevices[0].mode",
        "'bridge', 'vepa' or 'private'",
    ),
    (
        "capacity zero",
        {"macvtap": {"lowerDevices": [{"name": "dataplane", "lowerDevice": "eth0", "capacity": 0}]}},
        "kvm-in-a-pod:macvtap.lowerDevices[0].capacity",
        "greater than or equal to 1",
    ),
    (
        "duplicate device names",
        {"macvtap": {"lowerDevices": [{"name": "dataplane", "lowerDevice": "eth0"}, {"name": "dataplane", "lowerDevice": "eth1"}]}},
        "kvm-in-a-pod:macvtap.lowerDevices[1].name",
        "duplicate network name",
    ),
    (
        "lower device with shell characters",
        {"macvtap": {"lowerDevices": [{"name": "dataplane", "lowerDevice": "eth0;reboot"}]}},
        "kvm-in-a-pod:macvtap.lowerDevices[0].lowerDevice",
        "not a Linux interface name",
    ),
    ("no lower devices", {"macvtap": {"lowerDevices": []}}, "kvm-in-a-pod:macvtap.lowerDevices", "at least 1"),
    ("KubeVirt too old", {"kubevirt": {"version": "v1.0.0"}}, "kvm-in-a-pod:kubevirt.version", "v1.1.1 or newer"),
    ("KubeVirt version malformed", {"kubevirt": {"version": "1.9"}}, "kvm-in-a-pod:kubevirt.version", "like v1.9.0"),
    ("misspelled key", {"kubevirt": {"useEmulaton": True}}, "kvm-in-a-pod:kubevirt.useEmulaton", "not a known key"),
    ("unknown top-level key", {"vm": []}, "kvm-in-a-pod:vm", "known keys: kubevirt"),
    (
        "floating Multus image",
        {"multus": {"image": "ghcr.io/k8snetworkplumbingwg/multus-cni:snapshot-thick"}},
        "kvm-in-a-pod:multus.image",
        "floating",
    ),
    ("memory not a quantity", {"vms": [vm(memory="lots")]}, "kvm-in-a-pod:vms[0].memory", "memory quantity"),
    ("zero cores", {"vms": [vm(cpuCores=0)]}, "kvm-in-a-pod:vms[0].cpuCores", "greater than or equal to 1"),
    ("ready timeout too short", {"vms": [vm(readyTimeoutSeconds=5)]}, "kvm-in-a-pod:vms[0].readyTimeoutSeconds", "or equal to 10"),
    (
        "MTU too small",
        {"vms": [vm(macvtap=[{"network": "dataplane", "mtu": 20}])]},
        "kvm-in-a-pod:vms[0].macvtap[0].mtu",
        "greater than or equal to 68",
    ),
    ("not a public key", {"vms": [vm(sshAuthorizedKeys=["hunter2"])]}, "kvm-in-a-pod:vms[0].sshAuthorizedKeys", "not an SSH public key"),
    ("VM without macvtap NIC", {"vms": [vm(macvtap=[])]}, "kvm-in-a-pod:vms[0].macvtap", "at least 1"),
    (
        "ssh mode without nodes, key or binary",
        {"macvtap": {**DEV_MACVTAP, "cniInstall": "ssh"}},
        "kvm-in-a-pod:nodes",
        "required when macvtap.cniInstall is ssh",
    ),
    (
        "unsupported install mode",
        {"macvtap": {**DEV_MACVTAP, "cniInstall": "manual"}},
        "kvm-in-a-pod:macvtap.cniInstall",
        "'ssh' or 'daemonset'",
    ),
    (
        "CNI dir escaping quoting",
        {"macvtap": {**DEV_MACVTAP, "cniBinDir": "/opt/cni/bin'; rm -rf /'"}},
        "kvm-in-a-pod:macvtap.cniBinDir",
        "absolute path",
    ),
    ("relative CNI dir", {"macvtap": {**DEV_MACVTAP, "cniBinDir": "../bin"}}, "kvm-in-a-pod:macvtap.cniBinDir", "absolute path"),
    (
        "operator manifest missing",
        {"kubevirt": {"operatorManifest": "manifests/nope.yaml"}},
        "kvm-in-a-pod:kubevirt.operatorManifest",
        "neither a file nor an http(s) URL",
    ),
    ("Multus manifest missing", {"multus": {"manifest": "manifests/multus.yml"}}, "kvm-in-a-pod:multus.manifest", "neither a file"),
    ("relative staging dir", {"macvtap": {**DEV_MACVTAP, "stagingDir": "tmp/stage"}}, "kvm-in-a-pod:macvtap.stagingDir", "absolute path"),
    (
        "toleration with an unknown effect",
        {"macvtap": {**DEV_MACVTAP, "tolerations": [{"key": "k", "effect": "NoRun"}]}},
        "kvm-in-a-pod:macvtap.tolerations[0].effect",
        "'NoSchedule', 'PreferNoSchedule' or 'NoExecute'",
    ),
    (
        "node selector value not a string",
        {"macvtap": {**DEV_MACVTAP, "nodeSelector": {"rack": 7}}},
        "kvm-in-a-pod:macvtap.nodeSelector.rack",
        "valid string",
    ),
    ("user data that is not cloud-init", {"vms": [vm(userData="password: x")]}, "kvm-in-a-pod:vms[0].userData", "#cloud-config"),
    (
        "unknown VM kind",
        {"vms": [vm(), vm(name="vm2", kind="VM")]},
        "kvm-in-a-pod:vms[1].kind",
        "'VM' is not allowed; input should be 'VirtualMachineInstance' or 'VirtualMachine'",
    ),
    (
        "unknown run strategy",
        {"vms": [vm(kind="VirtualMachine", runStrategy="Once")]},
        "kvm-in-a-pod:vms[0].runStrategy",
        "'Once' is not allowed; input should be 'Always', 'RerunOnFailure', 'Manual' or 'Halted'",
    ),
    (
        "run strategy on a VMI",
        {"vms": [vm(), vm(name="vm2", runStrategy="Halted")]},
        "kvm-in-a-pod:vms[1].runStrategy",
        "only meaningful with kind VirtualMachine",
    ),
    (
        "NAD name too long",
        {
            "macvtap": {"lowerDevices": [{"name": "n" * 60, "lowerDevice": "eth0"}]},
            "vms": [vm(macvtap=[{"network": "n" * 60, "mtu": 9000}])],
        },
        "kvm-in-a-pod:vms[0].macvtap[0].network",
        "would exceed 63 characters",
    ),
    (
        "network name too long for the device plugin's device names",
        {"macvtap": {"lowerDevices": [{"name": "dataplane01", "lowerDevice": "eth0"}]}, "vms": [vm(macvtap=[{"network": "dataplane01"}])]},
        "kvm-in-a-pod:macvtap.lowerDevices[0].name",
        "dataplane01Mvp0 to dataplane01Mvp99, and an interface name has at most 15, so with capacity 100 a network name may have"
        " at most 10",
    ),
    (
        "NIC MTU above what its network carries",
        {
            "macvtap": {"lowerDevices": [{"name": "dataplane", "lowerDevice": "eth0", "mtu": 1500}]},
            "vms": [vm(macvtap=[{"network": "dataplane", "mtu": 9000}])],
        },
        "kvm-in-a-pod:vms[0].macvtap[0].mtu",
        "9000 is above the MTU of network 'dataplane' (1500, kvm-in-a-pod:macvtap.lowerDevices[0].mtu)",
    ),
    (
        "network MTU out of range",
        {"macvtap": {"lowerDevices": [{"name": "dataplane", "lowerDevice": "eth0", "mtu": 70000}]}},
        "kvm-in-a-pod:macvtap.lowerDevices[0].mtu",
        "less than or equal to 65535",
    ),
    ("VM namespace not DNS-1123", {"vmNamespace": "VMs"}, "kvm-in-a-pod:vmNamespace", "DNS-1123"),
    ("no macvtap key", {"macvtap": None}, "kvm-in-a-pod:macvtap", "is required: at least macvtap.lowerDevices must name a network"),
]


def record_dev(overrides: dict[str, Any]) -> Recording:
    return record_stack("dev", config_overrides={f"kvm-in-a-pod:{k}": v for k, v in overrides.items()})


@pytest.mark.parametrize(("case", "overrides", "path", "words"), BAD_DEV_CONFIGS, ids=[c[0] for c in BAD_DEV_CONFIGS])
def test_bad_config_is_refused_with_its_key_path(case: str, overrides: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(pulumi.RunError) as refused:
        record_dev(overrides)
    message = str(refused.value)
    assert f"{path}: " in message
    assert words in message


def test_refused_config_registers_no_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    import offline.engine as engine

    recordings: list[Recording] = []
    original = engine.Recording

    def keep(*args: Any, **kwargs: Any) -> Recording:
        recordings.append(original(*args, **kwargs))
        return recordings[-1]

    monkeypatch.setattr(engine, "Recording", keep)
    with pytest.raises(pulumi.RunError):
        record_dev({"vms": [vm(macvtap=[{"network": "storage"}])]})
    assert recordings and recordings[0].resources == []


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(pulumi.RunError) as refused:
        record_dev({"vms": [vm(name="Bad_Name", cpuCores=0, macvtap=[{"network": "dataplane", "mac": "zz"}])]})
    message = str(refused.value)
    for path in ("vms[0].name", "vms[0].cpuCores", "vms[0].macvtap[0].mac"):
        assert f"kvm-in-a-pod:{path}: " in message


def problems_of(values: dict[str, Any], **kwargs: Any) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(values, **kwargs)
    return refused.value.problems


def test_a_field_error_and_an_unknown_network_are_reported_in_one_run() -> None:
    problems = problems_of(minimal(vms=[vm(cpuCores=0), vm(name="vm2", macvtap=[{"network": "storage"}])]))
    assert [path for path, _ in problems] == ["kvm-in-a-pod:vms[0].cpuCores", "kvm-in-a-pod:vms[1].macvtap[0].network"]


def test_a_vm_with_a_field_error_still_has_its_network_checked() -> None:
    problems = problems_of(minimal(vms=[vm(memory="lots", macvtap=[{"network": "storage"}])]))
    assert [path for path, _ in problems] == ["kvm-in-a-pod:vms[0].memory", "kvm-in-a-pod:vms[0].macvtap[0].network"]


def test_a_broken_lower_device_hides_no_other_reference_error() -> None:
    devices = [{"name": "dataplane", "lowerDevice": "eth0", "mode": "passthru"}, {"name": "lan", "lowerDevice": "eth1"}]
    vms = [vm(macvtap=[{"network": "dataplane"}, {"network": "lan"}, {"network": "storage"}])]
    problems = problems_of({"macvtap": {"lowerDevices": devices}, "vms": vms})
    # `dataplane` names a device that failed on its own: referring to it is not a second error.
    assert [path for path, _ in problems] == ["kvm-in-a-pod:macvtap.lowerDevices[0].mode", "kvm-in-a-pod:vms[0].macvtap[2].network"]
    assert "allowed: lan " in problems[1][1]


def test_a_duplicate_mac_is_reported_beside_another_field_error() -> None:
    nic = {"network": "dataplane", "mac": "02:00:00:00:00:01"}
    problems = problems_of(minimal(kubevirt={"version": "1.9"}, vms=[vm(macvtap=[nic]), vm(name="vm2", macvtap=[nic])]))
    assert [path for path, _ in problems] == ["kvm-in-a-pod:kubevirt.version", "kvm-in-a-pod:vms[1].macvtap[0].mac"]


def test_an_unknown_key_does_not_hide_the_other_problems() -> None:
    problems = problems_of(minimal(vm=[], vms=[vm(macvtap=[{"network": "storage"}])]))
    assert [path for path, _ in problems] == ["kvm-in-a-pod:vm", "kvm-in-a-pod:vms[0].macvtap[0].network"]


@pytest.mark.parametrize("key", ["vmNamespace", "vms", "macvtap"])
def test_an_encrypted_value_other_than_the_ssh_key_is_refused_cleanly(key: str) -> None:
    value = {"vmNamespace": "lab", "vms": [vm()], "macvtap": DEV_MACVTAP}[key]
    with pytest.raises(pulumi.RunError) as refused:
        record_stack("dev", secret_values={f"kvm-in-a-pod:{key}": json.dumps(value) if not isinstance(value, str) else value})
    assert str(refused.value).splitlines()[1:] == [
        f"  kvm-in-a-pod:{key}: is stored encrypted, but only sshPrivateKey and consolePassword are kept secret by this program;"
        f" this value would be written in plain text into resources and state. Store it as plain text: pulumi config rm"
        f" kvm-in-a-pod:{key}, then pulumi config set kvm-in-a-pod:{key} ... (without --secret)"
    ]


def test_ssh_mode_lists_each_missing_requirement() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(minimal(macvtap={**DEV_MACVTAP, "cniInstall": "ssh"}))
    paths = [path for path, _ in refused.value.problems]
    assert paths == ["kvm-in-a-pod:nodes", "kvm-in-a-pod:sshPrivateKey", "kvm-in-a-pod:macvtap.cniBinaryPath"]


def test_ssh_key_stored_in_plain_text_is_refused(fake_cni_binary: Path) -> None:
    values = {
        "macvtap": lab_macvtap(fake_cni_binary),
        "nodes": stack_value("lab", "nodes"),
        "sshPrivateKey": FAKE_SSH_KEY,
    }
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(values, secret_keys=frozenset())
    assert refused.value.problems == [
        (
            "kvm-in-a-pod:sshPrivateKey",
            "must be stored as a secret: pulumi config set --secret kvm-in-a-pod:sshPrivateKey < ~/.ssh/id_ed25519",
        ),
    ]


def test_missing_cni_binary_is_refused() -> None:
    values = {
        "macvtap": {**stack_value("lab", "macvtap"), "cniBinaryPath": "build/does-not-exist"},
        "nodes": stack_value("lab", "nodes"),
        "sshPrivateKey": FAKE_SSH_KEY,
    }
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(values, secret_keys=frozenset({SSH_KEY_CONFIG}))
    assert [path for path, _ in refused.value.problems] == ["kvm-in-a-pod:macvtap.cniBinaryPath"]


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("name", "node;1", "DNS-1123"),
        ("host", "$(reboot)", "neither an IP address nor a DNS hostname"),
        ("user", "root -o ProxyCommand=x", "not a Unix user name"),
        ("port", 70000, "less than or equal to 65535"),
        ("hostKey", "not-a-key", "SSH host public key"),
    ],
)
def test_node_values_that_could_escape_quoting_are_refused(record_lab: RecordLab, field: str, value: Any, words: str) -> None:
    nodes = stack_value("lab", "nodes")
    nodes[1][field] = value
    with pytest.raises(pulumi.RunError) as refused:
        record_lab(nodes=nodes)
    assert f"kvm-in-a-pod:nodes[1].{field}: " in str(refused.value)
    assert words in str(refused.value)


def test_a_bad_only_node_gives_its_own_error_and_no_nodes_required_error(fake_cni_binary: Path) -> None:
    nodes = stack_value("lab", "nodes")[:1]
    nodes[0]["hostKey"] = "not-a-key"
    values = {"macvtap": lab_macvtap(fake_cni_binary), "nodes": nodes, "sshPrivateKey": FAKE_SSH_KEY}
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(values, secret_keys=frozenset({SSH_KEY_CONFIG}))
    assert [path for path, _ in refused.value.problems] == ["kvm-in-a-pod:nodes[0].hostKey"]


@pytest.mark.parametrize(
    "pasted",
    ["192.0.2.11 ssh-ed25519 {key}", "[192.0.2.12]:2222 ssh-ed25519 {key}", "  node01.lab ssh-ed25519 {key}\n"],
    ids=["host", "[host]:port", "hostname with spaces and newline"],
)
def test_a_host_key_pasted_from_ssh_keyscan_keeps_the_key_and_drops_the_host_column(fake_cni_binary: Path, pasted: str) -> None:
    nodes = stack_value("lab", "nodes")
    key = nodes[0]["hostKey"]
    nodes[0]["hostKey"] = pasted.format(key=key.removeprefix("ssh-ed25519 "))
    values = {"macvtap": lab_macvtap(fake_cni_binary), "nodes": nodes, "sshPrivateKey": FAKE_SSH_KEY}
    config = parse_stack_config(values, secret_keys=frozenset({SSH_KEY_CONFIG}))
    assert isinstance(config, StackConfig)
    assert config.nodes[0].host_key == key


def test_duplicate_node_address_is_refused(record_lab: RecordLab) -> None:
    nodes = stack_value("lab", "nodes")
    nodes[1].update(host=nodes[0]["host"], port=22)
    with pytest.raises(pulumi.RunError) as refused:
        record_lab(nodes=nodes)
    assert "kvm-in-a-pod:nodes[1].host: 192.0.2.11:22 is listed twice" in str(refused.value)


def network(name: str, **fields: Any) -> dict[str, Any]:
    return minimal(macvtap={"lowerDevices": [{"name": name, "lowerDevice": "eth0", **fields}]}, vms=[vm(macvtap=[{"network": name}])])


def test_the_network_name_limit_follows_the_capacity() -> None:
    # dataplane01Mvp9 has 15 characters: with 10 devices an 11-character name fits.
    assert isinstance(parse_stack_config(network("dataplane01", capacity=10)), StackConfig)
    assert [path for path, _ in problems_of(network("dataplane01", capacity=11))] == ["kvm-in-a-pod:macvtap.lowerDevices[0].name"]


def test_the_network_name_limit_follows_the_device_plugins_release() -> None:
    def with_image(image: str) -> dict[str, Any]:
        values = network("a-network-named-at-length")
        values["macvtap"]["image"] = image
        return values

    # A release after v0.13.1 hashes device names (macvtap-cni PR #150): a DNS label's 63 apply.
    assert isinstance(parse_stack_config(with_image("quay.io/kubevirt/macvtap-cni:v0.14.0")), StackConfig)
    # A digest or a tag that is no release says nothing about the naming: the v0.13.1 limit holds.
    for image in (
        "quay.io/kubevirt/macvtap-cni@sha256:" + "0" * 64,
        "registry.local/macvtap-cni:main",
        "quay.io/kubevirt/macvtap-cni:v0.13.1",
    ):
        (problem,) = problems_of(with_image(image))
        assert problem[0] == "kvm-in-a-pod:macvtap.lowerDevices[0].name" and image in problem[1]


def test_defaults_match_the_config_reference() -> None:
    config = parse_stack_config(minimal(vms=[vm()]))
    assert isinstance(config, StackConfig)
    assert config.role == "all"
    assert (config.kubevirt.version, config.kubevirt.use_emulation) == ("v1.9.0", False)
    assert (
        config.kubevirt.operator_manifest_source == "https://github.com/kubevirt/kubevirt/releases/download/v1.9.0/kubevirt-operator.yaml"
    )
    assert (config.multus.install, config.multus.version) == (True, "v4.3.0")
    assert config.multus.pinned_image == "ghcr.io/k8snetworkplumbingwg/multus-cni:v4.3.0-thick"
    assert config.macvtap.namespace == "kvm-in-a-pod"
    assert config.macvtap.image == "quay.io/kubevirt/macvtap-cni:v0.13.1"
    assert (config.macvtap.cni_install, config.macvtap.cni_bin_dir) == ("daemonset", "/opt/cni/bin")
    device = config.macvtap.lower_devices[0]
    assert (device.mode, device.capacity) == ("bridge", 100)
    assert (config.vm_namespace, config.create_vm_namespace) == ("default", True)
    machine = config.vms[0]
    assert (machine.image, machine.memory, machine.cpu_cores) == ("quay.io/containerdisks/fedora:43", "1024M", 1)
    assert (machine.kind, machine.run_strategy) == ("VirtualMachineInstance", None)
    assert parse_stack_config(minimal(vms=[vm(kind="VirtualMachine")])).vms[0].effective_run_strategy == "Always"


def test_ssh_key_never_shows_in_the_config_repr(fake_cni_binary: Path) -> None:
    values = {
        "macvtap": lab_macvtap(fake_cni_binary),
        "nodes": stack_value("lab", "nodes"),
        "sshPrivateKey": FAKE_SSH_KEY,
    }
    config = parse_stack_config(values, secret_keys=frozenset({SSH_KEY_CONFIG}))
    assert "kvm-in-a-pod-test-key" not in repr(config)
    assert "kvm-in-a-pod-test-key" not in str(config.model_dump())
