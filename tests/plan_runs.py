"""Running the offline plan in-process, as `python -m offline.plan` would: one helper for the tests."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from offline import plan


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    out: Path

    def read(self, relative: str) -> str:
        return (self.out / relative).read_text()

    def files(self) -> list[str]:
        return sorted(str(p.relative_to(self.out)) for p in self.out.rglob("*") if p.is_file())

    def tree(self) -> dict[str, bytes]:
        return {name: (self.out / name).read_bytes() for name in self.files()}

    def manifest(self, prefix: str) -> str:
        (match,) = [name for name in self.files() if name.startswith(f"manifests/{prefix}")]
        return self.read(match)

    def statuses(self) -> dict[tuple[str, str], tuple[str, str]]:
        """(kind, name) -> (status, reason) from schema-report.json."""
        report = json.loads(self.read("schema-report.json"))
        return {(o["kind"], o["name"]): (o["status"], o["reason"]) for o in report["objects"]}


def run_plan(out: Path, stack: str, *args: str) -> Run:
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = plan.main([stack, "--out", str(out), *args])
    return Run(code, stdout.getvalue(), stderr.getvalue(), out)


def plan_in_project(project: Path, stack: str, out: Path) -> subprocess.CompletedProcess[str]:
    """``python -m offline.plan <stack> --offline`` run as a user runs it, in ``project`` (a copy of the checkout)."""
    return subprocess.run(
        [sys.executable, "-m", "offline.plan", stack, "--out", str(out), "--offline"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
