"""Strict schema validation of the Kubernetes objects a plan renders (pure: data in, errors out).

Strict means an unknown field is an error, as with ``kubectl apply --validate=strict``:

- core kinds (``v1``, ``apps/v1``, ``*.k8s.io``): kubernetes-validate's ``-strict`` schemas
  for ``KUBERNETES_VERSION`` (its strict variant already sets ``additionalProperties: false``);
- KubeVirt kinds: the Swagger 2.0 ``definitions`` of a ``kubevirt-*swagger*.json`` (or
  ``swagger.json``), the kind found through the ``POST`` body of its ``/apis/<group>/<version>/``
  collection path;
- other custom resources: the ``openAPIV3Schema`` of any CustomResourceDefinition among the
  ``*.yaml`` / ``*.yml`` files, matched by group, version and kind. A CRD's schema leaves
  ``metadata`` open (``type: object``); the API server checks it as ``ObjectMeta``, so it is
  checked here against kubernetes-validate's strict ObjectMeta too.

Both dialects are mapped to JSON Schema (draft 4, which Swagger 2.0 schemas are based on) by
``to_json_schema``. A kind no schema covers is not validated: ``schema_for`` returns None and
the caller must report it as such, never as passing.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from kubernetes_validate import utils as kubernetes_validate
from kubernetes_validate.version import __version__ as KUBERNETES_VALIDATE_VERSION  # noqa: N812
from referencing import Registry, Resource

# The Kubernetes API the core kinds are checked against (kubernetes-validate ships 1.25-1.37).
KUBERNETES_VERSION = "1.33"
KUBEVIRT_SWAGGER_PATTERNS = ("kubevirt-*swagger*.json", "swagger.json")
CRD_PATTERNS = ("*.yaml", "*.yml")

# kubernetes-validate's strict schemas and their shared definitions ($id of _definitions.json).
_K8S_DEFINITIONS_ID = "https://kubernetes.io/api/_definitions.json"
_OBJECT_META_REF = _K8S_DEFINITIONS_ID + "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
# A collection path whose POST body is the kind: /apis/<group>/<version>[/namespaces/{namespace}]/<plural>
_COLLECTION_PATH = re.compile(r"/apis/(?P<group>[^/]+)/(?P<version>[^/]+)(?:/namespaces/\{namespace\})?/[^/{}]+")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@dataclass(frozen=True, order=True)
class SchemaError:
    """One violation: the JSON path in the object (``spec.domain.devices.interfaces[1].bindng``) and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(object)'}: {self.message}"


@dataclass(frozen=True)
class KindSchema:
    source: str  # what the object is checked against, for reports
    validator: jsonschema.protocols.Validator
    # CRD schemas leave metadata open; the API server validates it as ObjectMeta.
    metadata_validator: jsonschema.protocols.Validator | None = None


class SchemaLoadError(Exception):
    """A schema directory that cannot be used (missing, unreadable, or two files defining one kind)."""


@dataclass
class Schemas:
    """The schemas given with ``--schemas`` (by ``apiVersion``/``kind``), plus the core kinds on demand."""

    kinds: dict[tuple[str, str], KindSchema]
    files: tuple[str, ...]  # the schema files found, for reports
    kubernetes_version: str = KUBERNETES_VERSION
    # (apiVersion, kind) -> why its schema could not be had (offline, a failed download).
    unavailable: dict[tuple[str, str], str] = field(default_factory=dict)
    _core: dict[tuple[str, str], KindSchema | None] = field(default_factory=dict, repr=False)

    def schema_for(self, api_version: str, kind: str) -> KindSchema | None:
        given = self.kinds.get((api_version, kind))
        if given is not None:
            return given
        if not is_core_api(api_version):
            return None
        if (api_version, kind) not in self._core:
            self._core[(api_version, kind)] = self._core_schema(api_version, kind)
        return self._core[(api_version, kind)]

    @property
    def core_source(self) -> str:
        return f"Kubernetes {self.kubernetes_version} strict (kubernetes-validate {KUBERNETES_VALIDATE_VERSION})"

    def _core_schema(self, api_version: str, kind: str) -> KindSchema | None:
        # File naming as in kubernetes_validate.utils.validate: <kind>-<group's first label>-<version>.json.
        group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
        name = f"{kind.lower()}-{group_version}.json"
        try:
            schema = _strict_schema_file(name, self.kubernetes_version)
        except FileNotFoundError:
            return None
        registry = Resource.from_contents(schema) @ _core_registry(self.kubernetes_version)
        validator = jsonschema.Draft202012Validator(schema, registry=registry)
        return KindSchema(f"{self.core_source}: {name}", validator)


def is_core_api(api_version: str) -> bool:
    """Built-in Kubernetes APIs: the core group (``v1``), dotless groups (``apps``) and ``*.k8s.io``."""
    if "/" not in api_version:
        return True
    group = api_version.split("/", 1)[0]
    return "." not in group or group.endswith(".k8s.io")


@functools.cache
def _core_registry(kubernetes_version: str) -> Registry:
    """kubernetes-validate's shared strict definitions (1.4 MB: read once per process)."""
    return Resource.from_contents(_strict_schema_file("_definitions.json", kubernetes_version)) @ Registry()


def object_meta_validator(kubernetes_version: str = KUBERNETES_VERSION) -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator({"$ref": _OBJECT_META_REF}, registry=_core_registry(kubernetes_version))


def _strict_schema_file(name: str, kubernetes_version: str) -> Any:
    version = [v for v in kubernetes_validate.all_versions() if kubernetes_validate.major_minor(v) == kubernetes_version]
    if not version:
        raise SchemaLoadError(f"kubernetes-validate {KUBERNETES_VALIDATE_VERSION} has no schemas for Kubernetes {kubernetes_version}")
    return kubernetes_validate.schema_contents(f"kubernetes-json-schema/v{version[-1]}-local-strict/{name}", kubernetes_version)


def load_schemas(directory: Path | None) -> Schemas:
    """The KubeVirt Swagger and CRD schemas in ``directory`` (None: core kinds only)."""
    if directory is None:
        return Schemas({}, ())
    if not directory.is_dir():
        raise SchemaLoadError(f"schema directory {directory} does not exist")
    kinds: dict[tuple[str, str], KindSchema] = {}
    origin: dict[tuple[str, str], str] = {}
    files: list[str] = []

    def add(found: Iterable[tuple[tuple[str, str], KindSchema]], path: Path) -> None:
        added = False
        for key, schema in found:
            if key in origin and origin[key] != path.name:
                raise SchemaLoadError(f"{key[0]} {key[1]} is defined by both {origin[key]} and {path.name} in {directory}")
            kinds[key], origin[key], added = schema, path.name, True
        if added:
            files.append(path.name)

    for path in _matching(directory, KUBEVIRT_SWAGGER_PATTERNS):
        add(swagger_kinds(_read_json(path), path.name), path)
    for path in _matching(directory, CRD_PATTERNS):
        add(crd_kinds(_read_yaml(path), path.name), path)
    return Schemas(kinds, tuple(files))


def _matching(directory: Path, patterns: Iterable[str]) -> list[Path]:
    return sorted({path for pattern in patterns for path in directory.glob(pattern) if path.is_file()})


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SchemaLoadError(f"{path}: {error}") from None


def _read_yaml(path: Path) -> list[Any]:
    try:
        return list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as error:
        raise SchemaLoadError(f"{path}: {error}") from None


def swagger_kinds(document: Mapping[str, Any], source: str) -> Iterator[tuple[tuple[str, str], KindSchema]]:
    """Every kind a Swagger 2.0 document accepts as a POST body, by (``group/version``, kind)."""
    definitions = {name: to_json_schema(schema) for name, schema in document.get("definitions", {}).items()}
    for route, operations in sorted(document.get("paths", {}).items()):
        match = _COLLECTION_PATH.fullmatch(route)
        if match is None or not isinstance(operations, dict) or "post" not in operations:
            continue
        for parameter in operations["post"].get("parameters", []):
            reference = parameter.get("schema", {}).get("$ref", "") if parameter.get("in") == "body" else ""
            if not reference.startswith("#/definitions/"):
                continue
            definition = reference.removeprefix("#/definitions/")
            # Definitions are named <version>.<Kind> (v1.VirtualMachineInstance).
            kind = definition.split(".", 1)[-1]
            api_version = f"{match['group']}/{match['version']}"
            validator = jsonschema.Draft4Validator({"$ref": reference, "definitions": definitions})
            yield (api_version, kind), KindSchema(f"{source}#/definitions/{definition}", validator)


def crd_kinds(documents: Iterable[Any], source: str) -> Iterator[tuple[tuple[str, str], KindSchema]]:
    """Every served version of the CustomResourceDefinitions among ``documents``."""
    object_meta: jsonschema.protocols.Validator | None = None
    for document in documents:
        if not isinstance(document, dict) or document.get("kind") != "CustomResourceDefinition":
            continue
        spec = document.get("spec", {})
        for version in spec.get("versions", []):
            schema = version.get("schema", {}).get("openAPIV3Schema")
            if schema is None:
                continue
            object_meta = object_meta or object_meta_validator()
            api_version, kind = f"{spec['group']}/{version['name']}", spec["names"]["kind"]
            yield (
                (api_version, kind),
                KindSchema(
                    f"{source} (CRD {document['metadata']['name']}, {version['name']})",
                    jsonschema.Draft4Validator(to_json_schema(schema)),
                    object_meta,
                ),
            )


def to_json_schema(node: Any) -> Any:
    """A Kubernetes OpenAPI schema (Swagger 2.0 definition or CRD openAPIV3Schema) as strict JSON Schema.

    - ``properties`` without ``additionalProperties``: unknown fields are errors
      (``additionalProperties: false``), unless ``x-kubernetes-preserve-unknown-fields``;
    - int-or-string (Swagger ``type: string, format: int-or-string``; CRD
      ``x-kubernetes-int-or-string: true``): an integer or a string;
    - ``nullable: true`` (OpenAPI v3): null is allowed too;
    - other ``x-kubernetes-*`` keys (list types, CEL rules this checker cannot run) are dropped.
    """
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key in ("properties", "patternProperties", "definitions"):
            converted[key] = {name: to_json_schema(schema) for name, schema in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            converted[key] = to_json_schema(value)
        else:
            converted[key] = value  # keywords and data (enum, default, description...)
    if node.get("x-kubernetes-int-or-string") or node.get("format") == "int-or-string":
        converted.pop("format", None)
        converted["type"] = ["integer", "string"]
    if "properties" in node and "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        converted["additionalProperties"] = False
    if node.get("nullable") and "type" in converted:
        types = converted["type"] if isinstance(converted["type"], list) else [converted["type"]]
        converted["type"] = [*types, "null"] if "null" not in types else types
    return converted


def validate_object(obj: Mapping[str, Any], schemas: Schemas) -> list[SchemaError]:
    """Every schema error of one object, sorted by path. Raises LookupError if no schema covers its kind."""
    kind_schema = schemas.schema_for(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
    if kind_schema is None:
        raise LookupError(f"no schema for {obj.get('apiVersion')} {obj.get('kind')}")
    errors = set(_errors(kind_schema.validator, obj, ()))
    metadata = obj.get("metadata")
    if kind_schema.metadata_validator is not None and isinstance(metadata, dict):
        errors.update(_errors(kind_schema.metadata_validator, metadata, ("metadata",)))
    return sorted(errors)


def _errors(validator: jsonschema.protocols.Validator, instance: Any, prefix: tuple[str | int, ...]) -> Iterator[SchemaError]:
    for error in validator.iter_errors(instance):
        where = (*prefix, *error.absolute_path)
        if error.validator == "additionalProperties" and error.validator_value is False and isinstance(error.instance, dict):
            known = error.schema.get("properties", {})
            patterns = error.schema.get("patternProperties", {})
            for name in sorted(error.instance):
                if name not in known and not any(re.search(pattern, name) for pattern in patterns):
                    yield SchemaError(json_path((*where, name)), "unknown field")
        elif error.validator == "required" and isinstance(error.instance, dict):
            for name in error.validator_value:
                if name not in error.instance:
                    yield SchemaError(json_path((*where, name)), "required field is missing")
        elif error.validator == "type":
            expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
            yield SchemaError(json_path(where), f"must be {' or '.join(map(str, expected))}, not {_json_type(error.instance)}")
        else:
            yield SchemaError(json_path(where), error.message)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def json_path(parts: Iterable[str | int]) -> str:
    """``('spec', 'interfaces', 1, 'app.kubernetes.io/name')`` -> ``spec.interfaces[1]["app.kubernetes.io/name"]``."""
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            path += f".{part}" if path else part
        else:
            path += f"[{json.dumps(part)}]"
    return path
