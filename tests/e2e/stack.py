"""The ssh-mode stack the e2e tests drive: its config, the project copy and CLI runs it is driven through,
and reading back what it made. ``test_e2e.py`` (the numbered steps) and ``test_faults.py`` (faults
and drift) each run one such stack.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.e2e.kube import Kube
from tests.e2e.kubevirt_fixture import operator_manifest
from tests.e2e.nodes import Node, host_interface
from tests.e2e.project import Project, PulumiResult
from tests.e2e.settings import MULTUS_MANIFEST
from tests.e2e.tools import Toolchain

NS = "kvm-in-a-pod:"


class Session:
    """What the tests share: the project copy, every CLI output (for the secret scan), the key."""

    def __init__(self, project: Project, stack: str, ssh_key: str, real_binary: Path | None) -> None:
        self.project = project
        self.stack = stack
        self.ssh_key = ssh_key
        self.real_binary = real_binary
        self.results: list[PulumiResult] = []

    def pulumi(self, *args: str, stack: str | None = None, timeout: float = 900) -> PulumiResult:
        result = self.project.pulumi(*args, stack=stack or self.stack, timeout=timeout)
        self.results.append(result)
        return result

    def run_readme_command(self, command: str, timeout: float = 900) -> PulumiResult:
        """A shell line from the README, run in the project copy with the suite's Pulumi setup."""
        started = time.monotonic()
        done = subprocess.run(["bash", "-c", command], cwd=self.project.root, env=self.project.env(),
                              capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip
        result = PulumiResult(["bash", "-c", command], done.returncode, done.stdout, done.stderr, time.monotonic() - started)
        self.results.append(result)
        return result

    def binary(self) -> Path:
        return self.project.root / "e2e-fixtures" / "macvtap"

    def write_binary(self, content: bytes) -> str:
        self.binary().write_bytes(content)
        return hashlib.sha256(content).hexdigest()


def base_config(nodes: list[Node], fixtures: Path) -> dict[str, Any]:
    lower_device = host_interface()
    assert lower_device is not None  # the toolchain fixture checked
    return {
        f"{NS}kubevirt": {"version": "v1.9.0", "useEmulation": True, "operatorManifest": "e2e-fixtures/kubevirt-operator.yaml"},
        f"{NS}multus": {"install": True, "version": "v4.3.0", "manifest": "e2e-fixtures/multus-daemonset-thick.yml"},
        f"{NS}macvtap": {
            "cniInstall": "ssh",
            "cniBinaryPath": "e2e-fixtures/macvtap",
            "lowerDevices": [{"name": "lan", "lowerDevice": lower_device.name, "mode": "bridge", "capacity": 10}],
        },
        f"{NS}nodes": [node.config_entry() for node in nodes],
        f"{NS}vmNamespace": "vms-e2e",
        f"{NS}vms": [
            {"name": "vm-a", "memory": "1024M", "macvtap": [{"network": "lan"}]},
            # The largest MTU the nodes' lower device allows (the install checks it).
            {"name": "vm-b", "kind": "VirtualMachine", "memory": "1024M", "macvtap": [{"network": "lan", "mtu": lower_device.mtu}]},
        ],
    }


def new_session(workdir: Path, stack: str, toolchain: Toolchain, kubeconfig: Path, nodes: list[Node], binary: Path) -> Session:
    """A project copy in ``workdir`` with one ssh-mode stack on ``nodes``, installing ``binary``."""
    project = Project.create(workdir, toolchain, kubeconfig)
    fixtures = project.root / "e2e-fixtures"
    fixtures.mkdir()
    (fixtures / "kubevirt-operator.yaml").write_text(operator_manifest())
    shutil.copy(MULTUS_MANIFEST, fixtures / "multus-daemonset-thick.yml")
    ssh_key = (nodes[0].client_key).read_text()
    state = Session(project, stack, ssh_key, binary)
    state.write_binary(binary.read_bytes())
    # The stack's policy config, as each shipped stack has one (policies/config/<stack>.json).
    (project.root / "policies" / "config" / f"{stack}.json").write_text(json.dumps({"macvtap-capacity": {"nodeCount": len(nodes)}}))
    project.init_stack(stack, base_config(nodes, fixtures))
    project.set_secret(stack, f"{NS}sshPrivateKey", ssh_key)
    return state


def live(kube: Kube, kind: str, name: str, namespace: str | None) -> dict[str, Any]:
    obj = kube.get(kind, name, namespace)
    assert obj is not None, f"{kind} {namespace}/{name} is not in the API server"
    return obj


def node_file(node: Node, path: str) -> tuple[str, str] | None:
    """(mode, sha256) of a file on the node, or None when it is absent."""
    code, out = node.ssh(f"if test -f {path}; then stat -c %a {path} && sha256sum {path}; else echo absent; fi")
    assert code == 0, f"ssh to {node.name} failed: {out}"
    if out.strip() == "absent":
        return None
    mode, digest = out.split()[:2]
    return mode, digest
