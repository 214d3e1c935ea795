"""Claims about the strict schema check (offline.schema_check) against the real upstream schemas.

- Every object the dev and lab stacks emit is valid against its schema: kubernetes-validate's
  strict Kubernetes 1.33 schemas, KubeVirt v1.9.0's Swagger (lab's VirtualMachine included),
  the Multus NAD CRD.
- Unknown fields are errors at any depth, reported with their JSON path:
  ``spec.domain.devices.interfaces[1].bindng: unknown field``; also inside maps of objects
  (the KubeVirt CR's binding plugins) and in a NAD's metadata, which the API server checks as
  ObjectMeta although the CRD leaves it open.
- Wrong types and missing required fields are errors with their path; a NAD whose
  ``spec.config`` is a YAML mapping instead of a JSON string is refused.
- The checker adds no rule the upstream schema lacks: a NAD without ``spec.config`` is valid
  (the CRD does not require it).
- Swagger/OpenAPI quirks map to JSON Schema: int-or-string (both spellings) takes an integer or
  a string, ``nullable`` allows null, ``x-kubernetes-preserve-unknown-fields`` keeps an object
  open, other ``x-kubernetes-*`` keys are dropped.
- A kind no schema covers is not validated (``schema_for`` is None, ``validate_object`` raises),
  including a custom group whose file name would collide with a core schema.
- Schema files are picked by pattern (swagger by name, CRDs by content); a missing directory
  or two files defining one kind are refused.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from offline.engine import Recording
from offline.render import Redactor, is_kubernetes_object, kubernetes_object
from offline.schema_check import (
    SchemaLoadError,
    Schemas,
    json_path,
    load_schemas,
    swagger_kinds,
    to_json_schema,
    validate_object,
)
from tests import upstream


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    # Upstream's swagger and NAD CRD, from ../shared or the user's cache (tests/upstream.py), or a skip saying how to get them.
    return load_schemas(Path(upstream.schemas_or_skip()))


def rendered(recording: Recording, name: str) -> dict[str, Any]:
    """The object as the plan renders it (numbers as JSON numbers), safe to edit."""
    return copy.deepcopy(kubernetes_object(recording.named(name), Redactor()))


def errors(obj: dict[str, Any], schemas: Schemas) -> list[str]:
    return [str(error) for error in validate_object(obj, schemas)]


@pytest.mark.parametrize("stack", ["dev", "lab"])
def test_every_object_the_stacks_emit_is_valid(stack: str, schemas: Schemas, request: pytest.FixtureRequest) -> None:
    recording: Recording = request.getfixturevalue(stack)
    objects = [kubernetes_object(r, Redactor()) for r in recording.resources if is_kubernetes_object(r)]
    vm_kinds = {"VirtualMachineInstance"} | ({"VirtualMachine"} if stack == "lab" else set())
    assert {obj["kind"] for obj in objects} == {
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "DaemonSet",
        "KubeVirt",
        "NetworkAttachmentDefinition",
        *vm_kinds,
    }
    for obj in objects:
        assert schemas.schema_for(obj["apiVersion"], obj["kind"]) is not None, obj["kind"]
        assert validate_object(obj, schemas) == [], obj["metadata"]["name"]


def test_schema_sources_are_the_ones_named(schemas: Schemas) -> None:
    # The NAD CRD is ../shared's extract of Multus's manifest, or (from the cache) the manifest itself.
    (crd_file,) = [path.name for path in Path(upstream.schemas_or_skip()).iterdir() if path.suffix in (".yaml", ".yml")]
    assert schemas.files == ("kubevirt-v1.9.0-swagger.json", crd_file)
    vmi = schemas.schema_for("kubevirt.io/v1", "VirtualMachineInstance")
    nad = schemas.schema_for("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition")
    daemonset = schemas.schema_for("apps/v1", "DaemonSet")
    assert vmi is not None and vmi.source == "kubevirt-v1.9.0-swagger.json#/definitions/v1.VirtualMachineInstance"
    assert nad is not None and nad.source.startswith(f"{crd_file} ")
    assert daemonset is not None and daemonset.source.startswith("Kubernetes 1.33 strict (kubernetes-validate")


def test_misspelled_vmi_interface_field_is_an_unknown_field_at_its_path(dev: Recording, schemas: Schemas) -> None:
    vmi = rendered(dev, "vm1-vmi")
    interface = vmi["spec"]["domain"]["devices"]["interfaces"][1]
    interface["bindng"] = interface.pop("binding")
    assert errors(vmi, schemas) == ["spec.domain.devices.interfaces[1].bindng: unknown field"]


def test_unknown_fields_are_found_inside_maps_of_objects(dev: Recording, schemas: Schemas) -> None:
    kubevirt = rendered(dev, "kubevirt-cr")
    kubevirt["spec"]["configuration"]["network"]["binding"]["macvtap"] = {"domainAttachmentTyp": "tap"}
    assert errors(kubevirt, schemas) == ["spec.configuration.network.binding.macvtap.domainAttachmentTyp: unknown field"]


def test_wrong_types_and_missing_required_fields_are_errors(dev: Recording, schemas: Schemas) -> None:
    vmi = rendered(dev, "vm1-vmi")
    vmi["spec"]["domain"]["cpu"]["cores"] = "one"
    del vmi["spec"]["domain"]["devices"]["disks"][0]["name"]
    assert errors(vmi, schemas) == [
        "spec.domain.cpu.cores: must be integer, not string",
        "spec.domain.devices.disks[0].name: required field is missing",
    ]


def test_nad_config_must_be_a_json_string(dev: Recording, schemas: Schemas) -> None:
    nad = rendered(dev, "macvtap-networks-dataplane")
    nad["spec"]["config"] = {"cniVersion": "0.3.1", "type": "macvtap"}
    assert errors(nad, schemas) == ["spec.config: must be string, not object"]


def test_nad_metadata_is_checked_as_object_meta(dev: Recording, schemas: Schemas) -> None:
    nad = rendered(dev, "macvtap-networks-dataplane")
    nad["metadata"]["anotations"] = nad["metadata"].pop("annotations")
    nad["spec"]["confg"] = nad["spec"].pop("config")
    assert errors(nad, schemas) == ["metadata.anotations: unknown field", "spec.confg: unknown field"]


def test_nad_without_config_is_valid_as_upstream_crd_does_not_require_it(dev: Recording, schemas: Schemas) -> None:
    nad = rendered(dev, "macvtap-networks-dataplane")
    del nad["spec"]["config"]
    assert errors(nad, schemas) == []


def test_core_kinds_are_strict_and_int_or_string_is_typed(dev: Recording, schemas: Schemas) -> None:
    daemonset = rendered(dev, "macvtap-daemonset")
    daemonset["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    daemonset["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"] = 1
    assert errors(daemonset, schemas) == ["spec.template.spec.containers[0].imagePullPolcy: unknown field"]
    daemonset["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"] = 1.5
    assert "spec.updateStrategy.rollingUpdate.maxUnavailable: 1.5 is not valid under any of the given schemas" in errors(daemonset, schemas)


def test_dotted_keys_are_quoted_in_paths(dev: Recording, schemas: Schemas) -> None:
    vmi = rendered(dev, "vm1-vmi")
    vmi["metadata"]["labels"]["app.kubernetes.io/name"] = 1
    assert errors(vmi, schemas) == ['metadata.labels["app.kubernetes.io/name"]: must be string, not integer']
    assert json_path(["spec", "interfaces", 0, "a b"]) == 'spec.interfaces[0]["a b"]'


def test_openapi_quirks_map_to_json_schema() -> None:
    swagger_int_or_string = {"type": "string", "format": "int-or-string"}
    assert to_json_schema(swagger_int_or_string) == {"type": ["integer", "string"]}
    crd_int_or_string = {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert to_json_schema(crd_int_or_string) == {"type": ["integer", "string"], "anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert to_json_schema({"type": "object", "nullable": True}) == {"type": ["object", "null"]}
    closed = {"type": "object", "properties": {"a": {"type": "string", "x-kubernetes-list-type": "atomic"}}}
    assert to_json_schema(closed) == {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}
    kept_open = {"type": "object", "properties": {"a": {"type": "string"}}, "x-kubernetes-preserve-unknown-fields": True}
    assert "additionalProperties" not in to_json_schema(kept_open)
    assert to_json_schema({"type": "object", "additionalProperties": {"type": "string"}}) == {
        "type": "object",
        "additionalProperties": {"type": "string"},
    }


def test_kinds_without_a_schema_are_not_validated(schemas: Schemas) -> None:
    assert schemas.schema_for("example.com/v1", "Widget") is None
    # kubernetes-validate would name this file daemonset-apps-v1.json: not a core API.
    assert schemas.schema_for("apps.example.com/v1", "DaemonSet") is None
    with pytest.raises(LookupError, match=re.escape("no schema for example.com/v1 Widget")):
        validate_object({"apiVersion": "example.com/v1", "kind": "Widget"}, schemas)


def test_without_schema_files_only_core_kinds_are_covered() -> None:
    core_only = load_schemas(None)
    assert core_only.schema_for("kubevirt.io/v1", "VirtualMachineInstance") is None
    assert core_only.schema_for("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition") is None
    assert core_only.schema_for("v1", "ConfigMap") is not None


CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          apiVersion: {type: string}
          kind: {type: string}
          metadata: {type: object}
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer}
"""


def test_crds_are_found_by_content_and_other_yaml_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "widgets.yml").write_text(CRD)
    (tmp_path / "values.yaml").write_text("replicas: 2\n")
    (tmp_path / "notes.json").write_text("{}")
    loaded = load_schemas(tmp_path)
    assert loaded.files == ("widgets.yml",)
    assert errors({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}}, loaded) == [
        "spec.size: required field is missing"
    ]


def test_two_files_defining_one_kind_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(CRD)
    (tmp_path / "b.yaml").write_text(CRD)
    with pytest.raises(SchemaLoadError, match=re.escape("example.com/v1 Widget is defined by both a.yaml and b.yaml")):
        load_schemas(tmp_path)


def test_a_missing_schema_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SchemaLoadError, match="does not exist"):
        load_schemas(tmp_path / "nowhere")


def test_swagger_kinds_come_from_collection_post_bodies() -> None:
    document = {
        "definitions": {"v1.Thing": {"type": "object", "properties": {"spec": {"type": "object"}}}},
        "paths": {
            "/apis/things.io/v1/namespaces/{namespace}/things": {
                "post": {"parameters": [{"in": "body", "schema": {"$ref": "#/definitions/v1.Thing"}}]}
            },
            "/apis/things.io/v1/namespaces/{namespace}/things/{name}": {"put": {}},
        },
    }
    kinds = dict(swagger_kinds(document, "swagger.json"))
    assert list(kinds) == [("things.io/v1", "Thing")]
