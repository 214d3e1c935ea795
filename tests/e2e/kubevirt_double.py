"""The KubeVirt test double: plays KubeVirt's part in the test cluster, nothing more.

It polls the API server and, ``--delay`` seconds after it first sees an object, writes the
status a running KubeVirt would:

- a KubeVirt CR: ``phase: Deployed`` and the ``Available`` condition;
- a VirtualMachineInstance: ``phase: Running`` and ``Ready``;
- a VirtualMachine with run strategy Always or RerunOnFailure: ``Ready``; with Halted or Manual:
  ``Ready`` False (stopped). Once ready, a later change of its template (a new
  ``metadata.generation``) adds ``RestartRequired``, as KubeVirt does until the VM restarts.

Objects whose name starts with ``--never-ready-prefix`` never get a condition (for timeout
tests). Run as ``python -m tests.e2e.kubevirt_double --kubeconfig-dir PKI --server URL``.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.e2e.kube import ApiError, Credentials, Kube


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(kind: str, status: bool, reason: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True" if status else "False",
        "reason": reason,
        "message": "set by the kvm-in-a-pod KubeVirt test double",
        "lastTransitionTime": _now(),
    }


def _conditions(obj: dict[str, Any]) -> dict[str, str]:
    return {c.get("type", ""): c.get("status", "") for c in (obj.get("status") or {}).get("conditions") or []}


class Double:
    def __init__(self, kube: Kube, delay: float, never_ready_prefix: str) -> None:
        self.kube = kube
        self.delay = delay
        self.never_ready_prefix = never_ready_prefix
        self.first_seen: dict[str, float] = {}
        self.ready_generation: dict[str, int] = {}

    def _due(self, obj: dict[str, Any]) -> bool:
        meta = obj["metadata"]
        if self.never_ready_prefix and meta["name"].startswith(self.never_ready_prefix):
            return False
        seen = self.first_seen.setdefault(meta["uid"], time.monotonic())
        return time.monotonic() - seen >= self.delay

    def _set_status(self, kind: str, obj: dict[str, Any], status: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.kube.merge_patch(kind, meta["name"], {"status": status}, meta.get("namespace"), subresource="status")
        conditions = [f"{c['type']}={c['status']}" for c in status["conditions"]]
        print(f"{_now()} {kind} {meta.get('namespace')}/{meta['name']}: {status.get('phase') or ''} {conditions}", flush=True)

    def step(self) -> None:
        for obj in self.kube.list("KubeVirt"):
            if _conditions(obj).get("Available") != "True" and self._due(obj):
                self._set_status("KubeVirt", obj, {"phase": "Deployed", "conditions": [
                    _condition("Available", True, "AllResourcesReady"), _condition("Progressing", False, "AllResourcesReady"),
                    _condition("Degraded", False, "AllResourcesReady")]})  # fmt: skip
        for obj in self.kube.list("VirtualMachineInstance"):
            if _conditions(obj).get("Ready") != "True" and self._due(obj):
                self._set_status("VirtualMachineInstance", obj, {"phase": "Running", "conditions": [_condition("Ready", True, "Running")]})
        for obj in self.kube.list("VirtualMachine"):
            self._virtual_machine(obj)

    def _virtual_machine(self, obj: dict[str, Any]) -> None:
        meta, conditions = obj["metadata"], _conditions(obj)
        running = obj["spec"].get("runStrategy", "Always") in ("Always", "RerunOnFailure")
        uid, generation = meta["uid"], int(meta.get("generation", 1))
        if uid not in self.ready_generation:
            if not self._due(obj):
                return
            self.ready_generation[uid] = generation
            status = {"printableStatus": "Running" if running else "Stopped", "ready": running, "observedGeneration": generation,
                      "conditions": [_condition("Ready", running, "Running" if running else "Stopped")]}  # fmt: skip
            self._set_status("VirtualMachine", obj, status)
        elif generation > self.ready_generation[uid] and conditions.get("RestartRequired") != "True":
            status = {"observedGeneration": generation, "conditions": [
                _condition("Ready", running, "Running" if running else "Stopped"),
                _condition("RestartRequired", True, "a non-live-updatable field was changed in the template spec")]}  # fmt: skip
            self._set_status("VirtualMachine", obj, status)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", required=True)
    parser.add_argument("--pki", required=True, type=Path, help="directory with ca.crt, admin.crt, admin.key")
    parser.add_argument("--delay", type=float, default=3.0)
    parser.add_argument("--never-ready-prefix", default="")
    args = parser.parse_args()
    kube = Kube(Credentials(args.server, args.pki / "ca.crt", args.pki / "admin.crt", args.pki / "admin.key"), timeout=5)
    double = Double(kube, args.delay, args.never_ready_prefix)
    print(f"{_now()} KubeVirt test double up: delay {args.delay}s", flush=True)
    while True:
        try:
            double.step()
        except (ApiError, OSError) as error:  # the API server restarting, a CRD not yet there
            print(f"{_now()} retrying after: {error}", flush=True)
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
