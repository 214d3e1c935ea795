"""The KubeVirt side of the test cluster: its CRDs, generated from the upstream API schema, and
the admission rule that makes a VMI's spec immutable, as virt-api does.

The operator manifest a real cluster applies holds the KubeVirt CRD, and the operator then
installs the VirtualMachineInstance and VirtualMachine CRDs. Here one manifest holds all three,
each with a *structural* ``openAPIV3Schema`` converted from the KubeVirt v1.9.0 swagger, so the
API server prunes unknown fields and refuses wrong types as a real cluster would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.settings import SWAGGER

_META = "k8s.io.apimachinery.pkg.apis.meta.v1."
INT_OR_STRING = {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
FREE_OBJECT = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
# Definitions that a structural schema must express differently from the swagger.
SPECIAL: dict[str, dict[str, Any]] = {
    "k8s.io.apimachinery.pkg.api.resource.Quantity": INT_OR_STRING,
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": INT_OR_STRING,
    _META + "Time": {"type": "string", "format": "date-time"},
    _META + "MicroTime": {"type": "string", "format": "date-time"},
    "k8s.io.apimachinery.pkg.runtime.RawExtension": FREE_OBJECT,
    # Nested object metadata (the VirtualMachine template's) is kept as-is, as KubeVirt's own
    # CRDs do; root metadata is the API server's.
    _META + "ObjectMeta": {"type": "object", "nullable": True, "x-kubernetes-preserve-unknown-fields": True},
}
_KEEP = ("type", "enum", "nullable", "required", "minimum", "maximum", "pattern", "minLength", "maxLength", "minItems", "maxItems")


class Converter:
    """Swagger 2.0 definitions -> structural OpenAPI v3 schemas (no $ref, every node typed)."""

    def __init__(self, definitions: dict[str, Any]) -> None:
        self.definitions = definitions

    def definition(self, name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
        if name in SPECIAL:
            return dict(SPECIAL[name])
        if name in seen:  # a recursive type: stop here, keep what the user wrote
            return dict(FREE_OBJECT)
        return self.schema(self.definitions[name], (*seen, name))

    def schema(self, node: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
        if "$ref" in node:
            converted = self.definition(node["$ref"].removeprefix("#/definitions/"), seen)
            if node.get("nullable"):
                converted["nullable"] = True
            return converted
        if isinstance(node.get("type"), list):
            # The swagger writes an int-or-string port as type [string, number]: a structural
            # schema says so with x-kubernetes-int-or-string.
            return dict(INT_OR_STRING) if "string" in node["type"] else dict(FREE_OBJECT)
        out: dict[str, Any] = {key: node[key] for key in _KEEP if key in node}
        if node.get("type") in ("integer", "number") and "format" in node:
            out["format"] = node["format"]
        if "properties" in node:
            out["type"] = "object"
            out["properties"] = {key: self.schema(value, seen) for key, value in node["properties"].items()}
        if isinstance(node.get("additionalProperties"), dict) and "properties" not in node:
            out["type"] = "object"
            out["additionalProperties"] = self.schema(node["additionalProperties"], seen)
        if "items" in node:
            out["type"] = "array"
            out["items"] = self.schema(node["items"], seen)
        if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
            out["x-kubernetes-preserve-unknown-fields"] = True
        if "type" not in out:
            return dict(FREE_OBJECT)
        return out


def root_schema(converter: Converter, definition: str) -> dict[str, Any]:
    schema = converter.definition(definition)
    schema["properties"]["metadata"] = {"type": "object"}
    schema["properties"].pop("status", None)
    # Status is written by the KubeVirt test double; keep it open, as the controller owns it.
    schema["properties"]["status"] = dict(FREE_OBJECT)
    schema.pop("required", None)
    schema["required"] = ["spec"]
    return schema


CRDS = (
    # kind, plural, short names, swagger definition
    ("KubeVirt", "kubevirts", ["kv", "kvs"], "v1.KubeVirt"),
    ("VirtualMachineInstance", "virtualmachineinstances", ["vmi", "vmis"], "v1.VirtualMachineInstance"),
    ("VirtualMachine", "virtualmachines", ["vm", "vms"], "v1.VirtualMachine"),
)


def crd(converter: Converter | None, kind: str, plural: str, short_names: list[str], definition: str) -> dict[str, Any]:
    """One CRD; without a converter its schema keeps every field (no validation at all)."""
    schema = root_schema(converter, definition) if converter else dict(FREE_OBJECT)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.kubevirt.io", "labels": {"app.kubernetes.io/part-of": "kvm-in-a-pod-e2e"}},
        "spec": {
            "group": "kubevirt.io",
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower(), "shortNames": short_names},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {"status": {}},
                }
            ],
        },
    }


def operator_manifest(swagger: Path | None = SWAGGER) -> str:
    """The stand-in for kubevirt-operator.yaml's API objects: the kubevirt namespace and the CRDs.

    (No operator Deployment: nothing would run it without nodes; the test double plays its part.)
    ``swagger=None`` gives schema-less CRDs, for render mode (benchmarks/engine.py says why).
    """
    converter = Converter(json.loads(swagger.read_text())["definitions"]) if swagger else None
    documents: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubevirt"}}]
    documents += [crd(converter, *entry) for entry in CRDS]
    return yaml.safe_dump_all(documents, sort_keys=False)


# virt-api refuses any update of a VMI's spec by anyone but KubeVirt's own service accounts
# ("update of VMI object is restricted", pkg/virt-api/webhooks/validating-webhook/admitters/
# vmi-update-admitter.go); labels under kubevirt.io/ are guarded too. A ValidatingAdmissionPolicy
# (CEL, GA in Kubernetes 1.30) reproduces that on a plain API server.
VMI_IMMUTABLE_POLICY = "kubevirt-vmi-update-restricted"


def vmi_update_policy() -> list[dict[str, Any]]:
    labels = "object.metadata.?labels.orValue({})"
    old_labels = "oldObject.metadata.?labels.orValue({})"
    guarded = "k.startsWith('kubevirt.io/')"
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": VMI_IMMUTABLE_POLICY},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": ["kubevirt.io"],
                            "apiVersions": ["v1"],
                            "operations": ["UPDATE"],
                            "resources": ["virtualmachineinstances"],
                        }
                    ]
                },
                "validations": [
                    {"expression": "object.spec == oldObject.spec", "message": "update of VMI object is restricted"},
                    {
                        "expression": f"{labels}.all(k, !{guarded} || (k in {old_labels} && {old_labels}[k] == {labels}[k]))"
                        f" && {old_labels}.all(k, !{guarded} || k in {labels})",
                        "message": "modification of the following reserved kubevirt.io/ labels on a VMI object is prohibited",
                    },
                ],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": VMI_IMMUTABLE_POLICY},
            "spec": {"policyName": VMI_IMMUTABLE_POLICY, "validationActions": ["Deny"]},
        },
    ]
