"""The type tokens, names and upstream constants of what the program registers."""

from __future__ import annotations

from typing import Final

from pulumi_policy import PolicyResource

NAD_TYPE: Final = "kubernetes:k8s.cni.cncf.io/v1:NetworkAttachmentDefinition"
VMI_TYPE: Final = "kubernetes:kubevirt.io/v1:VirtualMachineInstance"
VM_TYPE: Final = "kubernetes:kubevirt.io/v1:VirtualMachine"
CONFIGMAP_TYPE: Final = "kubernetes:core/v1:ConfigMap"
KUBEVIRT_TYPE: Final = "kubernetes:kubevirt.io/v1:KubeVirt"
DAEMONSET_TYPE: Final = "kubernetes:apps/v1:DaemonSet"
DEVICE_PLUGIN_COMPONENT: Final = "kvm-in-a-pod:index:MacvtapDevicePlugin"
NODE_CNI_INSTALL_COMPONENT: Final = "kvm-in-a-pod:index:NodeCniInstall"
REMOTE_COMMAND_TYPE: Final = "command:remote:Command"
COPY_TO_REMOTE_TYPE: Final = "command:remote:CopyToRemote"
# A `vms` stack reads its platform through one of these; stack policies see its outputs
# (the engine hands AnalyzeStack each resource's outputs, pkg/resource/deploy/step_generator.go).
STACK_REFERENCE_TYPE: Final = "pulumi:pulumi:StackReference"
# The platform (and `all`) stack's export that a `vms` stack's checks read.
PLATFORM_OUTPUT: Final = "macvtapPlatform"

RESOURCE_NAME_ANNOTATION: Final = "k8s.v1.cni.cncf.io/resourceName"
MACVTAP_RESOURCE_PREFIX: Final = "macvtap.network.kubevirt.io/"
DEVICE_PLUGIN_CONFIGMAP: Final = "macvtap-deviceplugin-config"
DEVICE_PLUGIN_CONF_KEY: Final = "DP_MACVTAP_CONF"
# macvtap-cni: "mode" defaults to bridge, "capacity" to 100; passthru is not supported.
DEVICE_MODES: Final = ("bridge", "vepa", "private")
DEFAULT_DEVICE_CAPACITY: Final = 100


def has_ancestor(resource: PolicyResource, resource_type: str) -> bool:
    parent = resource.parent
    while parent is not None:
        if parent.resource_type == resource_type:
            return True
        parent = parent.parent
    return False
