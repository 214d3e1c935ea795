"""What the dataplane suite runs, found before anything starts; one message names all that is missing.

Upstream binaries are never built or imitated here. The macvtap device plugin and CNI come from
the image the stack deploys (``quay.io/kubevirt/macvtap-cni:<tag>``: ``/macvtap-deviceplugin`` and
``/macvtap-cni``), found as ``macvtap-deviceplugin`` and ``macvtap`` in ``$KVM_E2E_BIN``, the e2e
tool cache or ``PATH`` (``tests/e2e/tools.py``). The rest are Debian packages
(``e2e/dataplane-packages.sh`` installs them and downloads the guest kernel's package).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.dataplane.guest import find_kernel_package, kernel_package_dirs
from tests.e2e.tools import Tool, find

OTHER_CNI_VARIABLE = "KVM_DATAPLANE_OTHER_CNI"
_FROM_THE_IMAGE = (
    "copy it out of the image the stack deploys into a directory named by KVM_E2E_BIN"
    " (id=$(docker create quay.io/kubevirt/macvtap-cni:v0.13.1) && docker cp $id:{path} $KVM_E2E_BIN/{name} && docker rm $id);"
    " the device plugin and the CNI must come from the same release"
)
DEVICE_PLUGIN = Tool("macvtap-deviceplugin", True, _FROM_THE_IMAGE.format(path="/macvtap-deviceplugin", name="macvtap-deviceplugin"))
CNI = Tool("macvtap", True, _FROM_THE_IMAGE.format(path="/macvtap-cni", name="macvtap"))
_PACKAGES = "bash e2e/dataplane-packages.sh (make dataplane runs it)"
COMMANDS = {
    "qemu-system-x86_64": f"Debian package qemu-system-x86: {_PACKAGES}",
    "ping": f"Debian package iputils-ping (the guest needs its -M do): {_PACKAGES}",
    "sudo": f"Debian package sudo (the lab node02 installs as a sudo user): {_PACKAGES}",
    "dpkg-deb": "Debian's dpkg",
    "setpriv": "util-linux",
    "nsenter": "util-linux",
    "ip": "iproute2",
    "bridge": "iproute2",
}
BUSYBOX = Path("/bin/busybox")


@dataclass(frozen=True)
class DataplaneTools:
    device_plugin: Path
    cni: Path
    other_cni: Path | None  # a CNI of another macvtap-cni release, for the mismatch claim
    busybox: Path
    ping: Path
    kernel_package: Path


class MissingPrerequisitesError(Exception):
    pass


def find_dataplane_tools() -> DataplaneTools:
    problems: list[str] = []
    if os.geteuid() != 0:
        problems.append("root (network namespaces, mounts, uid 107 for qemu)")
    binaries = {tool.name: find(tool) for tool in (DEVICE_PLUGIN, CNI)}
    for tool in (DEVICE_PLUGIN, CNI):
        if binaries[tool.name] is None:
            problems.append(f"{tool.name}: {tool.how_to_get}")
    for command, how in COMMANDS.items():
        if shutil.which(command) is None:
            problems.append(f"{command}: {how}")
    ping = shutil.which("ping")
    if ping and "iputils" not in subprocess.run([ping, "-V"], capture_output=True, text=True, check=False).stdout:
        problems.append(f"ping: {ping} is not iputils ping; {COMMANDS['ping']}")
    if not BUSYBOX.is_file() or "not a dynamic executable" not in _ldd(BUSYBOX):
        problems.append(f"{BUSYBOX} (static): Debian package busybox-static: {_PACKAGES}")
    kernel = find_kernel_package()
    if kernel is None:
        searched = ", ".join(str(d) for d in kernel_package_dirs())
        problems.append(f"the guest kernel, a linux-image-*-cloud-amd64 .deb in {searched}: {_PACKAGES}")
    other = os.environ.get(OTHER_CNI_VARIABLE)
    if problems:
        raise MissingPrerequisitesError("the dataplane suite cannot run; missing:\n" + "\n".join(f"  - {p}" for p in problems))
    assert binaries["macvtap-deviceplugin"] and binaries["macvtap"] and ping and kernel
    return DataplaneTools(
        binaries["macvtap-deviceplugin"], binaries["macvtap"], Path(other) if other else None, BUSYBOX, Path(ping), kernel
    )


def _ldd(path: Path) -> str:
    done = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False)
    return done.stdout + done.stderr
