"""The macvtap device plugin's ConfigMap: what it advertises, and whether the plugin can read it."""

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

from .kinds import (
    CONFIGMAP_TYPE,
    DEFAULT_DEVICE_CAPACITY,
    DEVICE_MODES,
    DEVICE_PLUGIN_CONF_KEY,
    DEVICE_PLUGIN_CONFIGMAP,
    MACVTAP_RESOURCE_PREFIX,
)
from .values import UNKNOWN, at, int_knob, plain, whole_number

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _is_device_plugin_configmap(resource_type: str, props: dict[str, Any]) -> bool:
    return resource_type == CONFIGMAP_TYPE and at(props, "metadata", "name") == DEVICE_PLUGIN_CONFIGMAP


@dataclass(frozen=True)
class DevicePluginConfig:
    resource: PolicyResource
    capacities: Any  # {node resource name: capacity per node}, or UNKNOWN when it cannot be told


def device_plugin_config(resources: Sequence[PolicyResource]) -> DevicePluginConfig | None:
    """What the stack's device plugin ConfigMap advertises; None if the stack has none.

    Capacities are UNKNOWN while the config is not known (preview), not a JSON array
    (macvtap-device-plugin-config reports that), or "[]": then the plugin advertises every
    physical link under its own name, which no stack resource tells.
    """
    for resource in resources:
        props = plain(resource.props)
        if not _is_device_plugin_configmap(resource.resource_type, props):
            continue
        text = at(props, "data", DEVICE_PLUGIN_CONF_KEY)
        try:
            entries = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            entries = None
        if not isinstance(entries, list) or not entries:
            return DevicePluginConfig(resource, UNKNOWN)
        capacities: dict[str, Any] = {}
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                capacity = whole_number(entry.get("capacity", DEFAULT_DEVICE_CAPACITY))
                capacities[MACVTAP_RESOURCE_PREFIX + entry["name"]] = UNKNOWN if capacity is None else capacity
        return DevicePluginConfig(resource, capacities)
    return None


DEVICE_PLUGIN_CONFIG_SCHEMA: Final = PolicyConfigSchema(
    properties={
        "maxCapacityPerDevice": {
            "type": "integer",
            "minimum": 1,
            "default": 1000,
            "description": "Largest capacity (macvtap devices per node) of one device plugin entry.",
        },
    }
)


def _check_device_plugin_config(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = plain(args.props)
    if not _is_device_plugin_configmap(args.resource_type, props):
        return
    where = f"ConfigMap '{args.name}' ({DEVICE_PLUGIN_CONFIGMAP})"
    text = at(props, "data", DEVICE_PLUGIN_CONF_KEY)
    if text is UNKNOWN:
        return
    if not isinstance(text, str):
        report(
            f"{where} has no data.{DEVICE_PLUGIN_CONF_KEY}, the device list the macvtap device plugin reads. "
            'Add it, e.g. [{"name":"dataplane","lowerDevice":"eth0","mode":"bridge","capacity":100}].',
            None,
        )
        return
    try:
        entries = json.loads(text)
    except ValueError as error:
        report(
            f"{where}: data.{DEVICE_PLUGIN_CONF_KEY} is not valid JSON ({error}). Write a JSON array of "
            "{name, lowerDevice, mode, capacity} objects.",
            None,
        )
        return
    if not isinstance(entries, list):
        report(
            f"{where}: data.{DEVICE_PLUGIN_CONF_KEY} is not a JSON array. "
            "Write a JSON array of {name, lowerDevice, mode, capacity} objects.",
            None,
        )
        return
    max_capacity = int_knob(args.get_config(), DEVICE_PLUGIN_CONFIG_SCHEMA, "maxCapacityPerDevice")
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        at_entry = f"{where}: {DEVICE_PLUGIN_CONF_KEY}[{index}]"
        if not isinstance(entry, dict):
            report(f"{at_entry} is not an object. Each entry is {{name, lowerDevice, mode, capacity}}.", None)
            continue
        name = entry.get("name")
        if not isinstance(name, str) or not _DNS1123_LABEL.match(name):
            report(
                f"{at_entry} has name {name!r}, not a DNS-1123 label; it becomes the node resource "
                f"'{MACVTAP_RESOURCE_PREFIX}<name>'. Use lower-case letters, digits and '-'.",
                None,
            )
        elif name in seen:
            report(f"{at_entry} repeats the name '{name}'; each name is one node resource. Rename or merge it.", None)
        else:
            seen.add(name)
        lower_device = entry.get("lowerDevice")
        if not isinstance(lower_device, str) or not lower_device:
            report(f'{at_entry} ({name!r}) has no lowerDevice. Name the host link the macvtap devices sit on, e.g. "eth0".', None)
        mode = entry.get("mode", "bridge")
        if mode not in DEVICE_MODES:
            report(
                f"{at_entry} ({name!r}) has mode {mode!r}; macvtap-cni supports {', '.join(DEVICE_MODES)} "
                "(not passthru). Pick one of those, or drop mode for bridge.",
                None,
            )
        capacity = entry.get("capacity", DEFAULT_DEVICE_CAPACITY)
        whole = whole_number(capacity)
        if whole is None or not 1 <= whole <= max_capacity:
            report(
                f"{at_entry} ({name!r}) has capacity {capacity!r}, outside 1..{max_capacity}. Set an integer "
                "capacity in that range (devices per node).",
                None,
            )


DEVICE_PLUGIN_CONFIG: Final = ResourceValidationPolicy(
    name="macvtap-device-plugin-config",
    description=f"The {DEVICE_PLUGIN_CONFIGMAP} ConfigMap's {DEVICE_PLUGIN_CONF_KEY} is a JSON array of "
    "uniquely named devices with a lower device, a supported mode and a sane capacity.",
    validate=_check_device_plugin_config,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=DEVICE_PLUGIN_CONFIG_SCHEMA,
)
