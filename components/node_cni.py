"""NodeCniInstall (ssh mode): copy the macvtap CNI binary to every node and install it there.

The node-side work is done by the POSIX sh scripts in ``node_scripts/``; the command
strings that run them are built by ``components.node_commands``. Nodes install in
parallel: no node's resources depend on another node's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
from pulumi_command import remote

from components.config import Node
from components.node_commands import NodeInstallSpec, install_command, staged_binary_path, uninstall_command
from components.node_probe import NOT_CHECKED_TOKEN, Finding, Installed, NotChecked, Unreachable, install_token


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as binary:
        for chunk in iter(lambda: binary.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class NodeCniInstallArgs:
    nodes: Sequence[Node]
    ssh_private_key: pulumi.Output[str]  # a secret Output; never unwrapped here
    binary_path: Path
    cni_bin_dir: str
    staging_dir: str
    lower_devices: tuple[str, ...]
    minimum_mtus: tuple[tuple[str, int], ...] = ()  # lower device -> the MTU the node must give it
    # node name -> what the node has installed, read before this run registers anything (node_probe).
    findings: Mapping[str, Finding] = field(default_factory=dict)


def node_install_spec(node: Node, args: NodeCniInstallArgs, binary_sha256: str) -> NodeInstallSpec:
    return NodeInstallSpec(
        node_name=node.name,
        staged_binary=staged_binary_path(args.staging_dir, binary_sha256),
        binary_sha256=binary_sha256,
        cni_bin_dir=args.cni_bin_dir,
        lower_devices=args.lower_devices,
        use_sudo=node.use_sudo,
        minimum_mtus=args.minimum_mtus,
    )


def node_token(node: str, finding: Finding, binary_sha256: str) -> tuple[str, bool]:
    """The node's install token and whether it is known (False: take it from the state as it is)."""
    if isinstance(finding, Installed):
        return install_token(finding, binary_sha256), True
    if isinstance(finding, Unreachable):
        pulumi.log.warn(
            f"node {node}: could not check its macvtap CNI install over SSH ({finding.reason}); its install resources stay"
            " as the last update left them"
        )
        return NOT_CHECKED_TOKEN, False
    return NOT_CHECKED_TOKEN, True


class NodeCniInstall(pulumi.ComponentResource):
    """Per node: ``CopyToRemote`` of the binary, then a ``Command`` that installs it.

    ``installs`` (one Command per node) is what VMs wait on. The binary's sha256 is a
    trigger of both, so a new binary re-copies and re-installs. The node's install token
    (``node_probe``) is the copy's other trigger and the install's stdin: a node found without
    the expected binary gets a new one, so it is copied and installed again (an in-place update
    of the install, never a replacement: the old uninstall would remove the repaired binary).
    """

    binary_sha256: str
    copies: dict[str, remote.CopyToRemote]
    installs: dict[str, remote.Command]

    def __init__(self, name: str, args: NodeCniInstallArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kvm-in-a-pod:index:NodeCniInstall", name, None, opts)
        self.binary_sha256 = file_sha256(args.binary_path)
        self.copies = {}
        self.installs = {}
        for node in args.nodes:
            connection = remote.ConnectionArgs(
                host=node.host,
                port=node.port,
                user=node.user,
                private_key=args.ssh_private_key,
                # Without host_key the provider accepts any server key; pin it when known.
                host_key=node.host_key,
            )
            spec = node_install_spec(node, args, self.binary_sha256)
            token, known = node_token(node.name, args.findings.get(node.name, NotChecked()), self.binary_sha256)
            copy = remote.CopyToRemote(
                f"{name}-{node.name}-copy",
                connection=connection,
                source=pulumi.FileAsset(str(args.binary_path)),
                remote_path=spec.staged_binary,
                triggers=[self.binary_sha256, token],
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=[] if known else ["triggers[1]"]),
            )
            self.copies[node.name] = copy
            self.installs[node.name] = remote.Command(
                f"{name}-{node.name}-install",
                connection=connection,
                create=install_command(spec),
                delete=uninstall_command(spec),
                # The token on stdin, which the install writes to the node; a new one is an update.
                stdin=f"{token}\n",
                triggers=[self.binary_sha256],
                # The scripts print progress on stdout and problems on stderr; only stderr is
                # logged so that nothing a future script prints on stdout lands in the logs.
                logging=remote.Logging.STDERR,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[copy], ignore_changes=[] if known else ["stdin"]),
            )
        self.register_outputs({"binarySha256": self.binary_sha256, "nodes": sorted(self.installs)})
