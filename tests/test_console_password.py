"""Claims a user checks about logging in on a VM's console with ``kvm-in-a-pod:consolePassword``.

Set once with ``pulumi config set --secret kvm-in-a-pod:consolePassword``:

- each VM's cloud-init user data sets that password for the image's default user (cloud-init's
  ``password``, not expired, SSH password login off) and keeps the authorized keys; it goes into a
  Secret ``<vm>-cloud-init`` (key ``userdata``) that the VM spec references by ``secretRef``, with
  the network data still inline; the spec holds no user data and no password;
- the VM object waits for its Secret, and the Secret for the VM namespace when the stack creates it;
- the password is secret everywhere: a secret input of the Secret only, in no other resource, in
  no stack output, and the offline plan writes it nowhere (the Secret's value shows as [secret])
  while its objects still validate;
- a `vms` stack does the same in its own namespace;
- without it nothing changes: no Secret, the user data inline;
- refused, naming the key path, with what to do and never the password itself: a plain-text
  value, one shorter than 8 or longer than 128 characters, one with a control character, a
  VM whose own userData would not get it, and a `platform` stack (it holds no VMs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components.config import ConfigError, parse_stack_config
from offline import plan_inputs
from offline.engine import Recording, is_secret, record_stack
from tests import upstream
from tests.conftest import FAKE_SSH_KEY, SSH_KEY_CONFIG, stack_value
from tests.plan_runs import run_plan
from tests.recorded import inputs

KEY = "kvm-in-a-pod:consolePassword"
PASSWORD = "correct-horse-battery"
SECRET_TYPE = "kubernetes:core/v1:Secret"


@pytest.fixture(scope="module")
def dev_with_password() -> Recording:
    return record_stack("dev", secret_values={KEY: PASSWORD})


def cloud_init_volume(spec: dict[str, Any]) -> dict[str, Any]:
    (volume,) = [v for v in spec["volumes"] if v["name"] == "cloudinitdisk"]
    source: dict[str, Any] = volume["cloudInitNoCloud"]
    return source


def test_each_vm_gets_a_secret_with_user_data_that_sets_the_password(dev_with_password: Recording) -> None:
    secrets = dev_with_password.of_type(SECRET_TYPE)
    assert sorted(r.name for r in secrets) == ["vm1-cloud-init", "vm2-cloud-init"]
    secret = inputs(dev_with_password, "vm1-cloud-init")
    assert (secret["metadata"]["name"], secret["metadata"]["namespace"], secret["type"]) == ("vm1-cloud-init", "default", "Opaque")
    user_data = secret["stringData"]["userdata"]
    assert user_data.startswith("#cloud-config\n")
    assert yaml.safe_load(user_data) == {
        "password": PASSWORD,
        "chpasswd": {"expire": False},
        "ssh_pwauth": False,
        "ssh_authorized_keys": stack_value("dev", "vms")[0].get("sshAuthorizedKeys", []),
    }


def test_the_vm_spec_references_the_secret_and_keeps_its_network_data(dev_with_password: Recording) -> None:
    source = cloud_init_volume(inputs(dev_with_password, "vm1-vmi")["spec"])
    assert source["secretRef"] == {"name": "vm1-cloud-init"}
    assert "userData" not in source
    assert source["networkData"].startswith("version: 2\n")


def test_the_vm_waits_for_its_secret_and_the_secret_for_nothing_else(dev_with_password: Recording) -> None:
    vm = dev_with_password.named("vm1-vmi")
    secret = dev_with_password.named("vm1-cloud-init")
    assert secret.urn in vm.dependencies
    assert dev_with_password.named("vm2-cloud-init").urn not in vm.dependencies
    assert secret.dependencies == ()  # dev's VMs live in `default`, which the stack does not create


def test_the_password_is_a_secret_input_of_the_secret_only(dev_with_password: Recording) -> None:
    for resource in dev_with_password.resources:
        text = json.dumps(resource.inputs)
        if resource.type == SECRET_TYPE:
            assert is_secret(resource.inputs["stringData"])
        else:
            assert PASSWORD not in text, resource.name
    assert PASSWORD not in json.dumps(dev_with_password.outputs)


def test_the_vms_output_says_how_to_log_in(dev_with_password: Recording) -> None:
    assert dev_with_password.outputs["vms"]["vm1"]["consoleLogin"] == (
        "the image's default user (fedora for the default image), password kvm-in-a-pod:consolePassword"
    )


def test_without_a_password_there_is_no_secret_and_the_user_data_is_inline(dev: Recording) -> None:
    assert dev.of_type(SECRET_TYPE) == []
    assert "userData" in cloud_init_volume(inputs(dev, "vm1-vmi")["spec"])
    assert "consoleLogin" not in dev.outputs["vms"]["vm1"]


def test_a_vms_stack_puts_the_secret_in_its_namespace_after_creating_it(platform: Recording) -> None:
    team_a = record_stack("team-a", secret_values={KEY: PASSWORD}, stack_outputs={"platform": dict(platform.outputs)})
    secret = team_a.named("web1-cloud-init")
    assert inputs(team_a, "web1-cloud-init")["metadata"]["namespace"] == "team-a"
    assert [team_a.by_urn(urn).name for urn in secret.dependencies] == ["vm-namespace"]
    assert secret.urn in team_a.named("web1-vmi").dependencies


@pytest.fixture(scope="module")
def platform(fake_cni_binary: Path) -> Recording:
    macvtap = {**stack_value("platform", "macvtap"), "cniBinaryPath": str(fake_cni_binary)}
    return record_stack("platform", config_overrides={"kvm-in-a-pod:macvtap": macvtap}, secret_values={SSH_KEY_CONFIG: FAKE_SSH_KEY})


def test_the_plan_writes_the_password_nowhere_and_the_secret_validates(tmp_path: Path) -> None:
    run = run_plan(tmp_path / "dev", "dev", "--offline", "--schemas", upstream.schemas_or_skip(), "--set", f'{KEY}={{"secure": "v1:abc"}}')
    assert run.code == 0, run.stderr
    assert f"secret: {KEY} is not readable from Pulumi.dev.yaml" in run.stdout
    secret = yaml.safe_load(run.manifest("007-secret-default-vm1-cloud-init").split("\n", 1)[1])
    assert secret["stringData"] == {"userdata": "[secret]"}
    assert run.statuses()[("Secret", "vm1-cloud-init")] == ("valid", "")
    assert run.statuses()[("VirtualMachineInstance", "vm1")] == ("valid", "")
    assert [name for name, content in run.tree().items() if plan_inputs.PLACEHOLDER_SECRET.encode() in content] == []


# --- refusals -----------------------------------------------------------------------------

DEV_MACVTAP = {"lowerDevices": [{"name": "dataplane", "lowerDevice": "eth0"}]}
VM = {"name": "vm1", "macvtap": [{"network": "dataplane"}]}
SECRET = frozenset({KEY})


def refused(values: dict[str, Any], secret_keys: frozenset[str] = SECRET) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as error:
        parse_stack_config({"macvtap": DEV_MACVTAP, "vms": [VM], **values}, secret_keys=secret_keys)
    return error.value.problems


def test_a_plain_text_password_is_refused_saying_how_to_store_it() -> None:
    assert refused({"consolePassword": PASSWORD}, frozenset()) == [
        (KEY, f"must be stored as a secret: pulumi config set --secret {KEY} (it prompts for the password)")
    ]


def test_a_plain_text_password_stops_the_program_before_anything_is_registered() -> None:
    partial = Recording(stack="dev")
    with pytest.raises(pulumi.RunError, match=f"{KEY}: must be stored as a secret"):
        record_stack("dev", config_overrides={KEY: PASSWORD}, into=partial)
    assert partial.resources == []


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "must be 8 to 128 characters long (it has 5)"),
        ("x" * 129, "must be 8 to 128 characters long (it has 129)"),
        ("two\nlines-here", "must be printable characters you can type at a console (no newline, tab or control character)"),
    ],
    ids=["too short", "too long", "a newline"],
)
def test_a_password_that_cannot_be_typed_is_refused_without_repeating_it(password: str, message: str) -> None:
    problems = refused({"consolePassword": password})
    assert problems == [(KEY, message)]
    assert all(password not in text for _, text in problems)


def test_a_vm_with_its_own_user_data_is_refused_with_the_password() -> None:
    own = {**VM, "name": "vm2", "userData": "#cloud-config\n"}
    assert [path for path, _ in refused({"consolePassword": PASSWORD, "vms": [VM, own]})] == ["kvm-in-a-pod:vms[1].userData"]


def test_a_platform_stack_refuses_a_console_password() -> None:
    problems = refused({"role": "platform", "vms": [], "consolePassword": PASSWORD})
    assert [path for path, _ in problems] == [KEY]
    assert "holds no VMs" in problems[0][1]
