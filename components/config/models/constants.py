"""The config's constants: defaults, pinned versions, the key sets of each role, and the value patterns."""

import re

NAMESPACE = "kvm-in-a-pod"

DEFAULT_KUBEVIRT_VERSION = "v1.9.0"
# The macvtap network binding plugin's `tap` attachment type exists since v1.1.1 (domain.md).
MIN_KUBEVIRT_VERSION = (1, 1, 1)
DEFAULT_MULTUS_VERSION = "v4.3.0"
# The newest release of kubevirt/macvtap-cni: its public repository's tags end at v0.13.1, and
# version/version.go at its HEAD still says 0.13.1 (April 2026). It lacks two fixes on main: the
# device probes' glob (PR #154; the DaemonSet here sets its own probes) and hashed interface
# names (PR #150; hence the network-name limit below).
DEFAULT_MACVTAP_IMAGE = "quay.io/kubevirt/macvtap-cni:v0.13.1"
# The device plugin names each device, and the macvtap it creates for it, <network>Mvp<index>
# (macvtap-cni v0.13.1 pkg/deviceplugin/plugin.go generateMacvtapDevices), and a Linux interface
# name has at most 15 characters: Allocate of a longer one fails ("numerical result out of range").
# Later commits (PR #150) hash the name, but no release has them: a tag after this one is assumed
# to; a digest or any other tag is taken to name devices as this release does.
LAST_RELEASE_NAMING_DEVICES_BY_NETWORK = (0, 13, 1)
DEVICE_NAME_SUFFIX = "Mvp"
INTERFACE_NAME_MAX = 15
DEFAULT_READY_TIMEOUT_SECONDS = 900
# A pinned Fedora release, as floating Multus tags are refused: kubevirt/containerdisks publishes one
# tag per Fedora release (artifacts/fedora, tags "<release>" and "<release>-<compose>"); fedora:43 is the
# one RedHatQE/openshift-virtualization-tests moved to (issue #3781, 2026-02) and public KubeVirt examples use.
DEFAULT_VM_IMAGE = "quay.io/containerdisks/fedora:43"
DEFAULT_CNI_BIN_DIR = "/opt/cni/bin"
DEFAULT_STAGING_DIR = "/var/tmp/kvm-in-a-pod"

VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
MAC_ADDRESS = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
UNIX_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
MEMORY_QUANTITY = re.compile(r"^[1-9][0-9]*(Ki|Mi|Gi|Ti|k|M|G|T)?$")
SSH_PUBLIC_KEY = re.compile(
    r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/=]+( .*)?$"
)
IMAGE_REFERENCE = re.compile(r"^[a-z0-9]+([._/:@-][A-Za-z0-9_.-]+)*$")

# What a stack holds (README, "Platform and VM stacks"): `all` is one stack with everything; a `platform`
# stack holds KubeVirt, Multus, the device plugin and the node installs; a `vms` stack holds only VMs and
# reads its platform from the stack named in `platformStack`.
ROLES = ("all", "platform", "vms")
PLATFORM_KEYS = ("kubevirt", "multus", "macvtap", "nodes", "sshPrivateKey")
KNOWN_KEYS = (*PLATFORM_KEYS, "vmNamespace", "createVmNamespace", "vms", "consolePassword", "role", "platformStack")
# A stack reference is `stack`, `org/stack` or `org/project/stack`; each part is what the CLI allows in a
# stack name ("alphanumeric characters, hyphens, underscores, or periods", Pulumi docs, Concepts > Stacks).
STACK_REFERENCE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}$")
# The keys kept secret end to end (state, logs, outputs, the plan's files): the SSH key goes only into
# the command provider's connection, the console password only into a Kubernetes Secret's stringData.
SECRET_KEYS = ("sshPrivateKey", "consolePassword")
# Resources, state and the plan would hold any other key's value in plain text: refuse it
# rather than pretend it stays secret.
ENCRYPTED_PLAIN_KEY = (
    "is stored encrypted, but only sshPrivateKey and consolePassword are kept secret by this program; this value would be written"
    " in plain text into resources and state. Store it as plain text: pulumi config rm {key}, then pulumi config set {key} ..."
    " (without --secret)"
)
# cloud-init's `password` (cc_set_passwords): long enough not to be guessed at a console prompt, short
# and printable enough to be typed there.
CONSOLE_PASSWORD_LENGTH = (8, 128)
# Namespaces every cluster has: a stack never creates (nor, on destroy, deletes) them.
CLUSTER_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# KubeVirt's operator manifest creates and owns this one (domain.md).
KUBEVIRT_NAMESPACE = "kubevirt"
