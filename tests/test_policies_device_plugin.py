"""Claims about macvtap-device-plugin-config, called directly as the analyzer calls it.

- DP_MACVTAP_CONF is a JSON array of uniquely, DNS-1123 named devices with a lowerDevice, mode
  bridge/vepa/private (default bridge) and a capacity in 1..maxCapacityPerDevice (1000; default
  capacity 100); other ConfigMaps are ignored.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.policy_resources import (
    CONFIGMAP_TYPE,
    check_resource,
    device,
    dp_configmap,
)

# --- macvtap-device-plugin-config -----------------------------------------------------------


def test_valid_device_plugin_config_passes_with_upstream_defaults() -> None:
    entries = [device("lan"), {"name": "storage", "lowerDevice": "eno3"}]  # mode bridge, capacity 100
    assert check_resource("macvtap-device-plugin-config", CONFIGMAP_TYPE, dp_configmap(entries)) == []


@pytest.mark.parametrize(("text", "expected"), [("[{", "not valid JSON"), ('{"name": "lan"}', "not a JSON array")])
def test_device_plugin_config_must_be_a_json_array(text: str, expected: str) -> None:
    [message] = check_resource("macvtap-device-plugin-config", CONFIGMAP_TYPE, dp_configmap(text))
    assert expected in message and "DP_MACVTAP_CONF" in message


def test_device_plugin_config_without_its_key_is_refused() -> None:
    props = dp_configmap([])
    props["data"] = {}
    [message] = check_resource("macvtap-device-plugin-config", CONFIGMAP_TYPE, props)
    assert "no data.DP_MACVTAP_CONF" in message


@pytest.mark.parametrize("name", ["Lan", "lan_1", "-lan", "", None])
def test_device_names_must_be_dns1123_labels(name: Any) -> None:
    [message] = check_resource("macvtap-device-plugin-config", CONFIGMAP_TYPE, dp_configmap([device(name)]))
    assert "DNS-1123" in message


def test_device_names_must_be_unique() -> None:
    [message] = check_resource("macvtap-device-plugin-config", CONFIGMAP_TYPE, dp_configmap([device(), device()]))
    assert "repeats the name 'dataplane'" in message


def test_device_without_lower_device_is_refused() -> None:
    entry = device()
    del entry["lowerDevice"]
    [message] = check_resource("macvtap-device-plugin-config", CONFIGMAP_TYPE, dp_configmap([entry]))
    assert "no lowerDevice" in message


def test_passthru_mode_is_refused() -> None:
    [message] = check_resource("macvtap-device-plugin-config", CONFIGMAP_TYPE, dp_configmap([device(mode="passthru")]))
    assert "'passthru'" in message and "bridge, vepa, private" in message


@pytest.mark.parametrize(("capacity", "allowed"), [(1, True), (1000, True), (0, False), (1001, False), ("10", False)])
def test_capacity_must_lie_within_one_and_the_default_maximum(capacity: Any, allowed: bool) -> None:
    messages = check_resource("macvtap-device-plugin-config", CONFIGMAP_TYPE, dp_configmap([device(capacity=capacity)]))
    assert (messages == []) is allowed


def test_capacity_maximum_follows_the_knob() -> None:
    props = dp_configmap([device(capacity=100)])
    [message] = check_resource("macvtap-device-plugin-config", CONFIGMAP_TYPE, props, {"maxCapacityPerDevice": 50.0})
    assert "1..50" in message


def test_other_config_maps_are_ignored() -> None:
    props = dp_configmap("not json")
    props["metadata"]["name"] = "something-else"
    assert check_resource("macvtap-device-plugin-config", CONFIGMAP_TYPE, props) == []
