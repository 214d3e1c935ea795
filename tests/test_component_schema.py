"""Claims about the component package's schema, as the provider host infers it in process (``ComponentProvider``).

What `pulumi package add` turns into a TypeScript, Go or YAML SDK is this schema, so:

- the package is `kvm-in-a-pod` at the project's version, with exactly two components,
  `kvm-in-a-pod:index:MacvtapVM` and `kvm-in-a-pod:index:MacvtapNetworks`, and no dependency on
  another package's schema (a consumer needs no Kubernetes SDK);
- required inputs are exactly what has no default: a VM's `macvtap` and `nads`, the networks'
  `macvtap` and `networks`, a NIC's `network`, a platform network's export keys but `mtu`;
- `kind` and `runStrategy` are enums of KubeVirt's values, the ones the stack config accepts;
- `kind`, and the NICs of a MacvtapNetworks, are plain (they decide which resources exist);
- every input, output and type property has a type and a one-line description, and so does every
  enum value; the descriptions state the defaults the config models use;
- the inputs are the stack config's keys: a VM's keys (plus `namespace`, `nads`, `consolePassword`),
  an attachment's keys, and the keys of a network in the platform export.
"""

from __future__ import annotations

import json
import tomllib
from typing import Any

import pytest

from components.config import (
    DEFAULT_READY_TIMEOUT_SECONDS,
    VM,
    MacvtapAttachment,
    RunStrategy,
    VMKind,
)
from components.config.models import DEFAULT_VM_IMAGE
from components.package import PACKAGE, component_provider
from components.platform_export import PlatformNetwork, networks_output
from offline.engine import PROJECT_ROOT

VM_TOKEN = "kvm-in-a-pod:index:MacvtapVM"
NETWORKS_TOKEN = "kvm-in-a-pod:index:MacvtapNetworks"
TYPE = "kvm-in-a-pod:index:"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(component_provider().schema or "{}")
    return loaded


def all_properties(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(where, property)`` for every input, output and type property of the package."""
    found = []
    for token, resource in schema["resources"].items():
        for kind in ("inputProperties", "properties"):
            found += [(f"{token}.{kind}.{name}", prop) for name, prop in resource[kind].items()]
    for token, type_ in schema["types"].items():
        found += [(f"{token}.{name}", prop) for name, prop in (type_.get("properties") or {}).items()]
    return found


def aliases(model: type[VM] | type[MacvtapAttachment]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def test_the_package_is_kvm_in_a_pod_at_the_projects_version(schema: dict[str, Any]) -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    assert (schema["name"], schema["version"]) == (PACKAGE, project["version"]) == ("kvm-in-a-pod", project["version"])


def test_the_components_are_macvtap_vm_and_macvtap_networks_in_the_index_module(schema: dict[str, Any]) -> None:
    assert sorted(schema["resources"]) == [NETWORKS_TOKEN, VM_TOKEN]
    assert all(resource["isComponent"] for resource in schema["resources"].values())


def test_the_types_are_the_nic_the_platform_network_and_two_enums(schema: dict[str, Any]) -> None:
    assert sorted(schema["types"]) == [f"{TYPE}{name}" for name in ("MacvtapNetwork", "MacvtapNic", "RunStrategy", "VMKind")]


def test_no_other_package_schema_is_needed(schema: dict[str, Any]) -> None:
    assert not schema.get("dependencies")
    assert "/schema.json#" not in json.dumps(schema)


def test_required_inputs_are_what_has_no_default(schema: dict[str, Any]) -> None:
    resources, types = schema["resources"], schema["types"]
    assert resources[VM_TOKEN]["requiredInputs"] == ["macvtap", "nads"]
    assert resources[NETWORKS_TOKEN]["requiredInputs"] == ["macvtap", "networks"]
    assert types[f"{TYPE}MacvtapNic"]["required"] == ["network"]
    assert types[f"{TYPE}MacvtapNetwork"]["required"] == ["capacityPerNode", "lowerDevice", "mode", "resourceName"]


def test_kind_and_run_strategy_are_enums_of_kubevirts_values(schema: dict[str, Any]) -> None:
    inputs = schema["resources"][VM_TOKEN]["inputProperties"]
    assert inputs["kind"]["$ref"] == f"#/types/{TYPE}VMKind"
    assert inputs["runStrategy"]["$ref"] == f"#/types/{TYPE}RunStrategy"
    kinds = [value["value"] for value in schema["types"][f"{TYPE}VMKind"]["enum"]]
    strategies = [value["value"] for value in schema["types"][f"{TYPE}RunStrategy"]["enum"]]
    assert kinds == ["VirtualMachineInstance", "VirtualMachine"] == [kind.value for kind in VMKind]
    assert strategies == ["Always", "RerunOnFailure", "Manual", "Halted"] == [strategy.value for strategy in RunStrategy]


def test_kind_and_the_nics_of_the_networks_are_plain(schema: dict[str, Any]) -> None:
    vm, networks = schema["resources"][VM_TOKEN]["inputProperties"], schema["resources"][NETWORKS_TOKEN]["inputProperties"]
    assert vm["kind"].get("plain") is True and networks["macvtap"].get("plain") is True
    assert [name for name, prop in vm.items() if prop.get("plain")] == ["kind"]


def test_every_property_has_a_type_and_a_one_line_description(schema: dict[str, Any]) -> None:
    missing = [
        where
        for where, prop in all_properties(schema)
        if not ("type" in prop or "$ref" in prop) or not prop.get("description") or "\n" in prop["description"]
    ]
    assert missing == []


def test_every_component_type_and_enum_value_has_a_description(schema: dict[str, Any]) -> None:
    described = [*schema["resources"].values(), *schema["types"].values()]
    values = [value for type_ in schema["types"].values() for value in type_.get("enum") or []]
    assert all(item.get("description") and "\n" not in item["description"] for item in [*described, *values])


def test_the_descriptions_state_the_config_models_defaults(schema: dict[str, Any]) -> None:
    inputs = schema["resources"][VM_TOKEN]["inputProperties"]
    defaults = VM.model_validate({"name": "x", "macvtap": [{"network": "lan"}]})
    assert f"`{DEFAULT_VM_IMAGE}`" in inputs["image"]["description"]
    assert f"`{defaults.memory}` (default)" in inputs["memory"]["description"]
    assert f"(default {defaults.cpu_cores})" in inputs["cpuCores"]["description"]
    assert f"(default {DEFAULT_READY_TIMEOUT_SECONDS})" in inputs["readyTimeoutSeconds"]["description"]
    assert f"`{defaults.kind.value}` (default)" in inputs["kind"]["description"]
    assert f"(default `{defaults.effective_run_strategy.value}`)" in inputs["runStrategy"]["description"]


def test_a_vms_inputs_are_its_config_keys_and_what_a_stack_gives_all_its_vms(schema: dict[str, Any]) -> None:
    inputs = set(schema["resources"][VM_TOKEN]["inputProperties"])
    assert inputs == aliases(VM) | {"namespace", "nads", "consolePassword"}


def test_a_nics_properties_are_an_attachments_config_keys(schema: dict[str, Any]) -> None:
    assert set(schema["types"][f"{TYPE}MacvtapNic"]["properties"]) == aliases(MacvtapAttachment)


def test_a_platform_networks_properties_are_the_keys_of_the_export(schema: dict[str, Any]) -> None:
    exported = networks_output({"lan": PlatformNetwork("macvtap.network.kubevirt.io/lan", 10, "eth0", "bridge", 9000)})
    assert set(schema["types"][f"{TYPE}MacvtapNetwork"]["properties"]) == set(exported["lan"])
