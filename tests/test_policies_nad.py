"""Claims about the NAD policies, called directly as the analyzer calls them.

- macvtap-nad-resource-annotation: a macvtap NAD names a `macvtap.network.kubevirt.io/<name>`
  resource; a missing or foreign annotation is refused; other CNI plugins are not its business;
  a macvtap plugin inside a conflist counts.
- macvtap-nad-config: a macvtap NAD's config is JSON with cniVersion and type macvtap (when it
  requests a macvtap device), an mtu within minMtu..maxMtu (68..9000 unless configured), and
  no hand-set deviceID.
"""

from __future__ import annotations

import pytest

from tests.policy_resources import (
    MACVTAP_CNI,
    NAD_TYPE,
    check_resource,
    nad,
)

# --- macvtap-nad-resource-annotation --------------------------------------------------------


def test_macvtap_nad_with_device_plugin_resource_passes() -> None:
    assert check_resource("macvtap-nad-resource-annotation", NAD_TYPE, nad()) == []


def test_macvtap_nad_without_resource_annotation_is_refused() -> None:
    [message] = check_resource("macvtap-nad-resource-annotation", NAD_TYPE, nad(resource=None))
    assert "'r'" in message and "k8s.v1.cni.cncf.io/resourceName" in message
    assert "macvtap.network.kubevirt.io/" in message


@pytest.mark.parametrize("resource_name", ["intel.com/sriov", "macvtap.network.kubevirt.io/", "dataplane"])
def test_macvtap_nad_with_foreign_resource_is_refused(resource_name: str) -> None:
    [message] = check_resource("macvtap-nad-resource-annotation", NAD_TYPE, nad(resource=resource_name))
    assert repr(resource_name) in message


def test_nads_of_other_cni_plugins_need_no_macvtap_resource() -> None:
    bridge = {"cniVersion": "0.3.1", "name": "br", "type": "bridge", "bridge": "br0"}
    assert check_resource("macvtap-nad-resource-annotation", NAD_TYPE, nad(resource=None, config=bridge)) == []


def test_macvtap_plugin_inside_a_conflist_counts_as_macvtap() -> None:
    conflist = {"cniVersion": "0.3.1", "name": "x", "plugins": [{"type": "macvtap"}, {"type": "tuning"}]}
    assert len(check_resource("macvtap-nad-resource-annotation", NAD_TYPE, nad(resource=None, config=conflist))) == 1


# --- macvtap-nad-config ---------------------------------------------------------------------


def test_valid_macvtap_cni_config_passes() -> None:
    assert check_resource("macvtap-nad-config", NAD_TYPE, nad()) == []


def test_macvtap_nad_config_that_is_not_json_is_refused() -> None:
    [message] = check_resource("macvtap-nad-config", NAD_TYPE, nad(config='{"type": "macvtap",'))
    assert "not valid JSON" in message and "'r'" in message


def test_macvtap_nad_config_without_cni_version_is_refused() -> None:
    [message] = check_resource("macvtap-nad-config", NAD_TYPE, nad(config={"name": "x", "type": "macvtap"}))
    assert "cniVersion" in message


def test_nad_requesting_a_macvtap_device_without_spec_config_is_refused() -> None:
    without_config = nad()
    del without_config["spec"]["config"]
    [message] = check_resource("macvtap-nad-config", NAD_TYPE, without_config)
    assert "no spec.config" in message and "'r'" in message


def test_nad_of_another_plugin_without_spec_config_is_not_this_policys_business() -> None:
    without_config = nad(resource=None)
    del without_config["spec"]["config"]
    assert check_resource("macvtap-nad-config", NAD_TYPE, without_config) == []


def test_nad_requesting_a_macvtap_device_must_use_the_macvtap_plugin() -> None:
    [message] = check_resource("macvtap-nad-config", NAD_TYPE, nad(config={"cniVersion": "0.3.1", "type": "bridge"}))
    assert "'bridge'" in message and '"type": "macvtap"' in message


@pytest.mark.parametrize(("mtu", "allowed"), [(68, True), (9000, True), (67, False), (9001, False), (1500.5, False)])
def test_mtu_must_lie_within_the_default_range(mtu: float, allowed: bool) -> None:
    messages = check_resource("macvtap-nad-config", NAD_TYPE, nad(config={**MACVTAP_CNI, "mtu": mtu}))
    assert (messages == []) is allowed
    assert allowed or "68..9000" in messages[0]


def test_mtu_range_follows_the_min_and_max_knobs() -> None:
    jumbo = nad(config={**MACVTAP_CNI, "mtu": 9000})
    [message] = check_resource("macvtap-nad-config", NAD_TYPE, jumbo, {"minMtu": 576.0, "maxMtu": 1500.0})
    assert "576..1500" in message
    small = nad(config={**MACVTAP_CNI, "mtu": 600})
    assert check_resource("macvtap-nad-config", NAD_TYPE, small, {"minMtu": 576.0}) == []


def test_hand_set_device_id_is_refused() -> None:
    [message] = check_resource("macvtap-nad-config", NAD_TYPE, nad(config={**MACVTAP_CNI, "deviceID": "macvtap7"}))
    assert "deviceID" in message and "Remove" in message
