"""The guests, and virt-launcher's part in starting them.

**The guest** is as small as a Linux that speaks virtio-net can be: the kernel of Debian's
``linux-image-*-cloud-amd64`` package (its virtio drivers are modules, loaded from the
initramfs) and an initramfs the suite builds from ``busybox-static``, those modules and
iputils ``ping`` (busybox's ping cannot set DF). Its ``/init`` gives each NIC the address the
suite assigned to its MAC (as the stack's cloud-init matches NICs by MAC), reports each NIC on
the console, and then runs the commands the suite sends on a second serial port, answering
each with its output and exit code. Nothing else runs in it.

**virt-launcher's part**: for an interface whose binding plugin has ``domainAttachmentType:
tap`` (the macvtap binding registered in the KubeVirt CR), virt-launcher writes a libvirt
``<interface type='ethernet'>`` on the pod interface the CNI made, with the VM interface's MAC,
a virtio model and the pod interface's MTU; libvirt finds the interface is a macvtap, opens
its ``/dev/tap<ifindex>`` and hands qemu the file descriptor. qemu runs as uid/gid 107 (qemu)
in the pod's network namespace. Here that is: ``setpriv`` to 107:107 inside the pod netns, the
shell opens each ``/dev/tapN`` as that user (so a tap not owned by 107 fails here as it would
there), and qemu gets ``-netdev tap,fd=N -device virtio-net-pci,mac=..,host_mtu=..``.
There is no ``/dev/vhost-net`` on these machines, so no vhost.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.processes import Server

QEMU_UID = 107  # the qemu user of KubeVirt's images, which the macvtap CNI gives the tap to
GUEST_MODULES = ("virtio_pci", "virtio_net")
GUEST_MEMORY = "256M"
BOOT_TIMEOUT = 90.0
DONE_MARK = "__kvmdp_rc="

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for module in $(cat /modules.order); do insmod "/lib/modules/$module.ko"; done
for word in $(cat /proc/cmdline); do
  case "$word" in kvmdp.nics=*) NICS="${word#kvmdp.nics=}" ;; esac
done
ip link set lo up
# kvmdp.nics=<mac>@<address/prefix>,...: the address of the NIC that has this MAC.
for pair in $(echo "$NICS" | tr , ' '); do
  mac="${pair%@*}"; address="${pair#*@}"
  for dev in /sys/class/net/*; do
    if [ "$(cat "$dev/address")" = "$mac" ]; then
      name="${dev##*/}"
      ip link set "$name" up
      ip addr add "$address" dev "$name"
      echo "kvmdp-nic $name mac=$mac address=$address mtu=$(cat "$dev/mtu")"
    fi
  done
done
stty -F /dev/ttyS1 raw -echo
exec 3<>/dev/ttyS1
echo kvmdp-ready >&3
while IFS= read -r line <&3; do
  eval "$line" >&3 2>&1
  echo "__kvmdp_rc=$?" >&3
done
"""


@dataclass(frozen=True)
class GuestImage:
    kernel: Path
    initramfs: Path
    kernel_package: str  # the .deb it came from, for the summary


# The user's cache, read when this module is imported: the unit suite points XDG_CACHE_HOME
# elsewhere for its own tests afterwards (tests/conftest.py isolated_upstream_cache).
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kvm-in-a-pod" / "dataplane"


def kernel_package_dirs() -> list[Path]:
    """Where the suite looks for the Debian kernel package: $KVM_DATAPLANE_KERNEL, then its cache."""
    dirs = [Path(os.environ["KVM_DATAPLANE_KERNEL"])] if os.environ.get("KVM_DATAPLANE_KERNEL") else []
    return [*dirs, CACHE]


def find_kernel_package() -> Path | None:
    for directory in kernel_package_dirs():
        found = sorted(directory.glob("linux-image-*-cloud-amd64*_amd64.deb")) if directory.is_dir() else []
        if found:
            return found[-1]
    return None


def build_image(package: Path, busybox: Path, ping: Path, cache: Path, out: Path) -> GuestImage:
    """The kernel of ``package`` (unpacked once into ``cache``) and a new initramfs, both in ``out``.

    ``out`` must be readable by uid 107, which qemu runs as.
    """
    digest = hashlib.sha256(package.read_bytes()).hexdigest()[:16]
    unpacked = cache / f"kernel-{digest}"
    if not unpacked.is_dir():
        partial = cache / f".kernel-{digest}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(package), str(partial)], check=True, capture_output=True)
        partial.rename(unpacked)
    (vmlinuz,) = sorted((unpacked / "boot").glob("vmlinuz-*"))
    (modules_root,) = sorted((unpacked / "lib" / "modules").iterdir())
    kernel = out / vmlinuz.name
    shutil.copyfile(vmlinuz, kernel)
    initramfs = out / "initramfs.gz"
    initramfs.write_bytes(gzip.compress(initramfs_archive(modules_root, busybox, ping), 1))
    for path in (kernel, initramfs):
        path.chmod(0o644)
    return GuestImage(kernel, initramfs, package.name)


def module_load_order(modules_root: Path, wanted: Sequence[str]) -> list[Path]:
    """The modules ``wanted`` needs, dependencies first, from each module's ``depends=`` modinfo."""
    by_name = {path.stem: path for path in modules_root.rglob("*.ko")}
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        found = re.search(rb"\0depends=([^\0]*)\0", by_name[name].read_bytes())
        for dependency in found.group(1).decode().split(",") if found else []:
            if dependency:
                visit(dependency)
        order.append(name)

    for name in wanted:
        visit(name)
    return [by_name[name] for name in order]


def shared_libraries(binary: Path) -> list[Path]:
    listing = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False).stdout
    return sorted({Path(path) for path in re.findall(r"(/\S+) \(0x", listing)})


def initramfs_archive(modules_root: Path, busybox: Path, ping: Path) -> bytes:
    """A newc cpio archive (the kernel's initramfs format) of the guest's files."""
    archive = NewcArchive()
    for directory in ("proc", "sys", "dev", "tmp"):
        archive.directory(directory)
    archive.file("bin/busybox", busybox.read_bytes(), 0o755)
    modules = module_load_order(modules_root, GUEST_MODULES)
    for module in modules:
        archive.file(f"lib/modules/{module.stem}.ko", module.read_bytes(), 0o644)
    archive.file("modules.order", (" ".join(module.stem for module in modules) + "\n").encode(), 0o644)
    archive.file("usr/bin/ping", ping.read_bytes(), 0o755)
    for library in shared_libraries(ping):
        archive.file(str(library.resolve()).lstrip("/"), library.read_bytes(), 0o755)
        if library.resolve() != library:
            archive.file(str(library).lstrip("/"), library.read_bytes(), 0o755)
    archive.file("init", INIT.encode(), 0o755)
    return archive.close()


class NewcArchive:
    """The "newc" cpio format (linux Documentation/driver-api/early-userspace/buffer-format.rst)."""

    def __init__(self) -> None:
        self.out = io.BytesIO()
        self.inode = 1
        self.directories: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes) -> None:
        encoded = name.encode() + b"\0"
        fields = (self.inode, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
        self.inode += 1
        self.out.write(b"070701" + "".join(f"{value:08x}" for value in fields).encode() + encoded)
        self.out.write(b"\0" * (-(110 + len(encoded)) % 4))
        self.out.write(data + b"\0" * (-len(data) % 4))

    def directory(self, name: str) -> None:
        parts = name.split("/")
        for end in range(1, len(parts) + 1):
            path = "/".join(parts[:end])
            if path not in self.directories:
                self.directories.add(path)
                self._entry(path, stat.S_IFDIR | 0o755, b"")

    def file(self, name: str, data: bytes, mode: int) -> None:
        if "/" in name:
            self.directory(name.rsplit("/", 1)[0])
        self._entry(name, stat.S_IFREG | mode, data)

    def close(self) -> bytes:
        self._entry("TRAILER!!!", 0, b"")
        return self.out.getvalue()


# --- a running guest ------------------------------------------------------------------------


@dataclass(frozen=True)
class Tap:
    """One VM NIC as virt-launcher hands it to qemu."""

    device: str  # /dev/tapN of the pod interface
    mac: str  # the VM interface's MAC: what the domain's <mac address> says
    mtu: int  # the pod interface's MTU: the domain's <mtu size>, qemu's host_mtu
    address: str  # what the guest sets on the NIC with this MAC (address/prefix)


class Guest:
    """One qemu process in a pod netns, and the control channel to the guest's shell."""

    def __init__(self, name: str, pod_netns: str, image: GuestImage, taps: Sequence[Tap], workdir: Path, accel: str) -> None:
        self.name = name
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        os.chown(workdir, QEMU_UID, QEMU_UID)
        self.console = workdir / "console.log"
        self.control_path = workdir / "control.sock"
        nics = ",".join(f"{tap.mac}@{tap.address}" for tap in taps)
        qemu = [
            "qemu-system-x86_64", *accelerator_args(accel), "-m", GUEST_MEMORY, "-smp", "1", "-nodefaults", "-no-user-config",
            "-display", "none", "-no-reboot", "-kernel", str(image.kernel), "-initrd", str(image.initramfs),
            "-append", f"console=ttyS0 panic=-1 quiet kvmdp.nics={nics}",
            "-serial", f"file:{self.console}",
            # wait=on: qemu starts the guest only once the suite is connected, so no line is lost.
            "-chardev", f"socket,id=control,path={self.control_path},server=on,wait=on", "-serial", "chardev:control",
        ]  # fmt: skip
        redirects = []
        for index, tap in enumerate(taps):
            fd = 3 + index
            qemu += ["-netdev", f"tap,id=hostnet{index},fd={fd}",
                     "-device", f"virtio-net-pci,netdev=hostnet{index},mac={tap.mac},host_mtu={tap.mtu}"]  # fmt: skip
            redirects.append(f"{fd}<>{shlex.quote(tap.device)}")
        shell = f"exec {shlex.join(qemu)} {' '.join(redirects)}"
        argv = ["ip", "netns", "exec", pod_netns, "setpriv", f"--reuid={QEMU_UID}", f"--regid={QEMU_UID}", "--clear-groups",
                "sh", "-c", shell]  # fmt: skip
        self.process = Server(f"qemu-{name}", argv, workdir / "qemu.log")
        self._buffer = b""
        self._control: socket.socket | None = self._connect(time.monotonic() + 30)

    def _connect(self, deadline: float) -> socket.socket:
        while True:
            if not self.process.running():
                raise RuntimeError(f"qemu of {self.name} exited: {self.process.tail()}")
            control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                control.connect(str(self.control_path))
                return control
            except OSError:
                control.close()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: qemu opened no control socket; {self.process.tail()}")
            time.sleep(0.05)

    def wait_ready(self, timeout: float = BOOT_TIMEOUT) -> None:
        self._read_until(b"kvmdp-ready\n", time.monotonic() + timeout)

    def _read_until(self, mark: bytes, deadline: float) -> bytes:
        assert self._control is not None
        while mark not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.process.running():
                raise TimeoutError(f"{self.name}: no {mark!r} from the guest; console:\n{self.console_text()[-2000:]}")
            self._control.settimeout(min(remaining, 1.0))
            try:
                chunk = self._control.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise RuntimeError(f"{self.name}: control channel closed")
            self._buffer += chunk
        before, _, self._buffer = self._buffer.partition(mark)
        return before

    def run(self, command: str, timeout: float = 60) -> tuple[int, str]:
        """Run a shell command in the guest; (exit code, output)."""
        assert self._control is not None, f"{self.name} is not ready"
        self._control.sendall(command.encode() + b"\n")
        deadline = time.monotonic() + timeout
        output = self._read_until(DONE_MARK.encode(), deadline)
        code = self._read_until(b"\n", deadline)
        return int(code), output.decode(errors="replace")

    def console_text(self) -> str:
        try:
            return self.console.read_text(errors="replace")
        except OSError:
            return ""

    def reported_nics(self) -> dict[str, dict[str, str]]:
        """``kvmdp-nic`` lines of the console: guest interface -> mac, address, mtu."""
        nics = {}
        for line in self.console_text().splitlines():
            if line.startswith("kvmdp-nic "):
                name, *pairs = line.split()[1:]
                nics[name] = dict(pair.split("=", 1) for pair in pairs)
        return nics

    def stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        self.process.stop()


def accelerator_args(accel: str) -> list[str]:
    return ["-accel", "kvm", "-cpu", "host"] if accel == "kvm" else ["-accel", "tcg", "-cpu", "max"]


def pick_accelerator(image: GuestImage, probe_seconds: float = 15) -> tuple[str, str]:
    """KVM when /dev/kvm boots this guest to its shell, else qemu's software emulation; and why."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg", "no usable /dev/kvm"
    argv = ["qemu-system-x86_64", *accelerator_args("kvm"), "-m", GUEST_MEMORY, "-nodefaults", "-no-user-config", "-display", "none",
            "-no-reboot", "-kernel", str(image.kernel), "-initrd", str(image.initramfs), "-append", "console=ttyS0 panic=-1",
            "-serial", "stdio"]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=probe_seconds, check=False)
        output = done.stdout + done.stderr
    except subprocess.TimeoutExpired as expired:
        output = (expired.stdout or b"").decode(errors="replace") if isinstance(expired.stdout, bytes) else (expired.stdout or "")
    if "kvmdp-nic" in output or "Run /init" in output or "Freeing unused kernel" in output:
        return "kvm", "/dev/kvm boots the guest"
    last = next((line for line in reversed(output.splitlines()) if line.strip()), "no output")
    return "tcg", f"/dev/kvm does not boot the guest ({last.strip()[:120]})"
