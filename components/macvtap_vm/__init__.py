"""MacvtapVM: the component (``component``), its typed arguments and their check (``args``), and the
pure builders of its Kubernetes objects (``manifests``)."""

from components.macvtap_vm.args import MacvtapVMArgs
from components.macvtap_vm.component import MacvtapVM, MacvtapVMWiring
from components.macvtap_vm.generations import NadGenerations
from components.macvtap_vm.manifests import (
    NAD_DIGEST_ANNOTATION,
    NAD_GENERATIONS_ANNOTATION,
    derive_mac,
    nads_used_by,
    plan_attachments,
    virtual_machine_manifest,
    vm_outputs,
    vmi_manifest,
    vmi_spec,
)

__all__ = [
    "NAD_DIGEST_ANNOTATION",
    "NAD_GENERATIONS_ANNOTATION",
    "MacvtapVM",
    "MacvtapVMArgs",
    "MacvtapVMWiring",
    "NadGenerations",
    "derive_mac",
    "nads_used_by",
    "plan_attachments",
    "virtual_machine_manifest",
    "vm_outputs",
    "vmi_manifest",
    "vmi_spec",
]
