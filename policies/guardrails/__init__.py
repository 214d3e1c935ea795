"""The policies of the ``macvtap-guardrails`` pack: KubeVirt VMs on a macvtap network.

One module per subject: ``nad`` (NetworkAttachmentDefinitions), ``vm`` (the shape of each VM),
``device_plugin`` (its ConfigMap), ``capacity`` (devices vs. VM NICs), ``platform`` (a `vms` stack's
platform stack), ``ordering`` (what VMs
wait for) and ``ssh`` (node connections); ``workloads`` reads VMs of either kind and ``values``
turns the analyzer's proxies into plain data.

Kept apart from ``policies/__main__.py`` because constructing the ``PolicyPack`` starts a gRPC
server that never returns: tests and the offline runner import this package, the CLI runs
``__main__.py``. Only the standard library and ``pulumi_policy`` are imported and the modules
import each other relatively, so the package loads both as ``policies.guardrails`` (repo root)
and as ``guardrails`` (the CLI's ``runpy.run_path`` puts ``policies/`` first on ``sys.path``).
"""

from __future__ import annotations

from typing import Final

from pulumi_policy import Policy

from .capacity import CAPACITY, RESOURCE_KNOWN
from .device_plugin import DEVICE_PLUGIN_CONFIG
from .nad import NAD_CONFIG, NAD_RESOURCE_ANNOTATION
from .ordering import VM_WAITS_FOR_PLATFORM
from .platform import PLATFORM_REFERENCE
from .ssh import SSH_HOST_KEY_PINNED
from .vm import INTERFACES_PER_VM, NO_LEGACY_BINDING, UNIQUE_MACS, VM_RESOURCE_LIMITS

PACK_NAME: Final = "macvtap-guardrails"

# Resource policies first, then stack policies: the order the CLI lists and runs them in.
POLICIES: Final[list[Policy]] = [
    NAD_RESOURCE_ANNOTATION,
    NAD_CONFIG,
    INTERFACES_PER_VM,
    NO_LEGACY_BINDING,
    VM_RESOURCE_LIMITS,
    DEVICE_PLUGIN_CONFIG,
    CAPACITY,
    RESOURCE_KNOWN,
    UNIQUE_MACS,
    PLATFORM_REFERENCE,
    VM_WAITS_FOR_PLATFORM,
    SSH_HOST_KEY_PINNED,
]


def policy_named(name: str) -> Policy:
    for policy in POLICIES:
        if policy.name == name:
            return policy
    raise KeyError(name)
