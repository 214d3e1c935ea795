"""NetworkAttachmentDefinitions: a macvtap NAD names its device plugin resource and has a sane CNI config.

NADs are shared: one per (network, settings) in the VM namespace, referenced by every VM NIC on
that network. Nothing here is per VM; per-NIC counting happens in capacity.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from .kinds import DEVICE_PLUGIN_CONF_KEY, MACVTAP_RESOURCE_PREFIX, NAD_TYPE, RESOURCE_NAME_ANNOTATION
from .values import UNKNOWN, at, int_knob, plain, whole_number

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# The name part of a Kubernetes extended resource (a qualified name), as in
# "macvtap.network.kubevirt.io/dataplane".
_RESOURCE_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def _macvtap_plugin(cni_config: Any) -> dict[str, Any] | None:
    """The macvtap plugin's entry of a CNI config (a single config or a conflist), if any."""
    if not isinstance(cni_config, dict):
        return None
    if cni_config.get("type") == "macvtap":
        return cni_config
    for plugin in cni_config.get("plugins") or []:
        if isinstance(plugin, dict) and plugin.get("type") == "macvtap":
            return plugin
    return None


def _parse_cni_config(props: dict[str, Any]) -> Any:
    """The NAD's parsed spec.config; UNKNOWN if not known; None if absent.

    Raises ValueError (not JSON) or TypeError (not a string).
    """
    text = at(props, "spec", "config")
    if text is UNKNOWN or text is None:
        return text
    return json.loads(text)


@dataclass(frozen=True)
class Nad:
    resource: PolicyResource
    macvtap: bool
    resource_name: Any  # the k8s.v1.cni.cncf.io/resourceName annotation: str, UNKNOWN or None


def nads(resources: Sequence[PolicyResource]) -> dict[Any, Nad]:
    """The stack's NADs by (namespace, name)."""
    found: dict[Any, Nad] = {}
    for resource in resources:
        if resource.resource_type != NAD_TYPE:
            continue
        props = plain(resource.props)
        name = at(props, "metadata", "name")
        namespace = at(props, "metadata", "namespace")
        try:
            macvtap = _macvtap_plugin(_parse_cni_config(props)) is not None
        except (ValueError, TypeError):
            macvtap = False
        annotation = at(props, "metadata", "annotations", RESOURCE_NAME_ANNOTATION)
        if isinstance(annotation, str) and annotation.startswith(MACVTAP_RESOURCE_PREFIX):
            macvtap = True
        found[("default" if namespace is None else namespace, name)] = Nad(resource, macvtap, annotation)
    return found


def _check_nad_resource_annotation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != NAD_TYPE:
        return
    props = plain(args.props)
    try:
        cni_config = _parse_cni_config(props)
    except (ValueError, TypeError):
        return  # macvtap-nad-config reports configs that are not JSON
    if _macvtap_plugin(cni_config) is None:
        return
    annotation = at(props, "metadata", "annotations", RESOURCE_NAME_ANNOTATION)
    if annotation is UNKNOWN:
        return
    expected = f"{MACVTAP_RESOURCE_PREFIX}<device name from {DEVICE_PLUGIN_CONF_KEY}>"
    if annotation is None:
        report(
            f"NAD '{args.name}' uses the macvtap CNI plugin but has no '{RESOURCE_NAME_ANNOTATION}' "
            "annotation, so KubeVirt never asks the device plugin for a macvtap device and the VM "
            f"pod gets no tap device. Add the annotation '{RESOURCE_NAME_ANNOTATION}: {expected}'.",
            None,
        )
        return
    is_macvtap_resource = isinstance(annotation, str) and annotation.startswith(MACVTAP_RESOURCE_PREFIX)
    if not is_macvtap_resource or not _RESOURCE_NAME.match(annotation[len(MACVTAP_RESOURCE_PREFIX) :]):
        report(
            f"NAD '{args.name}' uses the macvtap CNI plugin but its '{RESOURCE_NAME_ANNOTATION}' annotation "
            f"is {annotation!r}, not a macvtap device plugin resource. Set it to '{expected}'.",
            None,
        )


NAD_CONFIG_SCHEMA: Final = PolicyConfigSchema(
    properties={
        "minMtu": {
            "type": "integer",
            "minimum": 0,
            "default": 68,
            "description": "Smallest allowed CNI mtu (68 is the IPv4 minimum).",
        },
        "maxMtu": {
            "type": "integer",
            "minimum": 0,
            "default": 9000,
            "description": "Largest allowed CNI mtu (jumbo frames); it must not exceed the lower device's MTU.",
        },
    }
)


def _check_nad_config(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != NAD_TYPE:
        return
    props = plain(args.props)
    annotation = at(props, "metadata", "annotations", RESOURCE_NAME_ANNOTATION)
    wants_macvtap = isinstance(annotation, str) and annotation.startswith(MACVTAP_RESOURCE_PREFIX)
    where = f"NAD '{args.name}'"
    try:
        cni_config = _parse_cni_config(props)
    except (ValueError, TypeError) as error:
        if wants_macvtap:
            report(
                f"{where}: spec.config is not valid JSON ({error}). Write it as a JSON object, "
                'e.g. {"cniVersion":"0.3.1","name":"...","type":"macvtap","mtu":1500}.',
                None,
            )
        return
    if cni_config is UNKNOWN:
        return
    if cni_config is None:
        if wants_macvtap:
            report(
                f"{where} requests the macvtap device '{annotation}' but has no spec.config, so Multus has no "
                'CNI plugin to run. Add spec.config, e.g. {"cniVersion":"0.3.1","name":"...","type":"macvtap"}.',
                None,
            )
        return
    plugin = _macvtap_plugin(cni_config)
    if plugin is None:
        if wants_macvtap:
            cni_type = at(cni_config, "type")
            report(
                f"{where} requests the macvtap device '{annotation}' but its CNI config type is "
                f'{cni_type!r}, not \'macvtap\'. Set "type": "macvtap" in spec.config.',
                None,
            )
        return
    if not isinstance(at(cni_config, "cniVersion"), str):
        report(f'{where}: the macvtap CNI config has no string \'cniVersion\'. Add one, e.g. "cniVersion": "0.3.1".', None)
    if "mtu" in plugin:
        mtu = plugin["mtu"]
        low = int_knob(args.get_config(), NAD_CONFIG_SCHEMA, "minMtu")
        high = int_knob(args.get_config(), NAD_CONFIG_SCHEMA, "maxMtu")
        whole = whole_number(mtu)
        if whole is None or not low <= whole <= high:
            report(
                f"{where}: the macvtap CNI config has mtu {mtu!r}, outside {low}..{high}. "
                "Set an integer mtu in that range (no larger than the lower device's MTU), or drop it.",
                None,
            )
    if "deviceID" in plugin:
        report(
            f"{where}: the macvtap CNI config hard-codes deviceID {plugin['deviceID']!r}; Multus fills it in "
            "from the device the macvtap device plugin allocated to the pod. Remove deviceID.",
            None,
        )


NAD_RESOURCE_ANNOTATION: Final = ResourceValidationPolicy(
    name="macvtap-nad-resource-annotation",
    description="A macvtap NetworkAttachmentDefinition names its device plugin resource "
    f"({RESOURCE_NAME_ANNOTATION}: {MACVTAP_RESOURCE_PREFIX}<name>).",
    validate=_check_nad_resource_annotation,
    enforcement_level=EnforcementLevel.MANDATORY,
)

NAD_CONFIG: Final = ResourceValidationPolicy(
    name="macvtap-nad-config",
    description="A macvtap NetworkAttachmentDefinition's CNI config is valid JSON with cniVersion and type, "
    "an mtu within range, and no hand-set deviceID.",
    validate=_check_nad_config,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=NAD_CONFIG_SCHEMA,
)
