"""The real Pulumi engine: `pulumi preview` and `pulumi up` of N VMs in render mode, program vs floor.

``python -m benchmarks.engine`` (``make bench-engine``) drives the CLI through the e2e suite's
``tests/e2e/project.py`` (a project copy with its own PULUMI_HOME, a local file backend and the
providers ``tests/e2e/tools.py`` finds), so no cluster is needed: the stack config sets
``kubernetes:renderYamlToDirectory`` and the kubernetes provider writes manifests instead of
calling an API server. It finds the tools where ``make e2e`` does (``tests/e2e/tools.py``: KVM_E2E_BIN,
KVM_E2E_TOOLS, the bin directory ``e2e/build-tools.sh`` builds into, PATH, the plugin directory) and
upstream's Multus manifest where the offline plan does (its cache, or a download; ``../shared`` when
present). Without them it prints SKIPPED with what is missing and exits 3: a skip is never an exit 0.

The KubeVirt operator manifest is the e2e suite's stand-in with schema-less CRDs
(``kubevirt_operator_manifest``): with the CRD schemas built from KubeVirt's full swagger, it
makes the Python SDK 3.272 hang in render mode. The rendered CRDs come back from
``yaml.v2.ConfigFile`` as resource references; rehydrating one fails in
``translate_output_properties`` ("Expected 'list' got '<class 'str'>'"), and since
``runtime/resource.py``'s ``get_resource`` resolves outputs outside its try block, that
resource's outputs stay pending and the program never exits.

A cell is (N, layout, checkpoints, kind):

- layout ``one``: one stack (role ``all``); ``split``: a ``platform`` stack plus ``vms`` stacks of
  at most 200 VMs that reference it (``kvm-in-a-pod:platformStack``), run one after another;
- checkpoints kept (the default), or ``PULUMI_SKIP_CHECKPOINTS=true``;
- kind ``program`` (``__main__.py``) or ``floor``: the same stack recorded under the mock engine
  (``offline.engine``) and replayed by ``benchmarks.floor.replay`` as a minimal program in a
  sibling project of the same name, so the floor registers the program's resources (types, names,
  inputs, parents, dependencies) and nothing else.

Each stack is new: ``pulumi preview``, then ``pulumi up --yes --skip-preview``, each timed (wall)
with the CPU time of the CLI and everything it started (``RUSAGE_CHILDREN``), the load average,
and the checkpoint's size afterwards. One run per cell: on a shared 2-core machine the load
average next to each number says more than a median of a few runs would. The steps measured so
far are kept in ``$TMPDIR/kvm-bench-engine-partial.json`` while the benchmark runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pickle
import re
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from benchmarks.engine_report import (
    DEFAULT_SIZES,
    RESULTS_END,
    RESULTS_START,
    Cell,
    CellResult,
    Step,
    load_results,
    matrix,
    render_markdown,
)
from benchmarks.run import write_results
from offline.engine import record_stack
from tests import upstream
from tests.e2e.kubevirt_fixture import operator_manifest
from tests.e2e.project import Project
from tests.e2e.tools import REPO_ROOT, MissingToolsError, Toolchain, find_toolchain

NS = "kvm-in-a-pod:"
# A run that could not start: not a result, and not a silent success either.
EXIT_SKIPPED = 3
# The KubeVirt objects the program's operator manifest must bring: its namespace and the CRDs of
# the kinds it registers (the operator Deployment is left out: nothing runs in render mode).
ENGINE_TOOLS = ("pulumi", "pulumi-language-python", "pulumi-resource-kubernetes", "pulumi-resource-command")
VMS_PER_STACK = 200
FLOOR_DIR = "engine-floor"
# The floor project: same name as the program's (same URNs, same backend namespace), the same venv.
FLOOR_PULUMI_YAML = """name: kvm-in-a-pod
description: benchmark floor, a replay of a recording of the program
runtime:
  name: python
  options:
    toolchain: pip
    virtualenv: venv
"""
FLOOR_MAIN = """import pickle, sys
from pathlib import Path

import pulumi

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.floor import replay  # noqa: E402

with open(Path(__file__).resolve().parent / "recordings" / f"{pulumi.get_stack()}.pickle", "rb") as file:
    replay(pickle.load(file))()
"""

# --- stacks ------------------------------------------------------------------------------


def platform_values(fixtures: Path) -> dict[str, Any]:
    return {
        f"{NS}kubevirt": {"version": "v1.9.0", "operatorManifest": str(fixtures / "kubevirt-operator.yaml")},
        f"{NS}multus": {"install": True, "version": "v4.3.0", "manifest": str(fixtures / "multus-daemonset-thick.yml")},
        f"{NS}macvtap": {
            "cniInstall": "daemonset",
            "lowerDevices": [{"name": "lan", "lowerDevice": "eth0", "mode": "bridge", "capacity": 10000}],
        },
    }


def vm_values(first: int, count: int) -> list[dict[str, Any]]:
    """``count`` VMs from number ``first``: one macvtap NIC each, as in issue 14's measurements."""
    return [{"name": f"vm{index:04d}", "memory": "1024M", "macvtap": [{"network": "lan"}]} for index in range(first, first + count)]


def stack_plan(cell: Cell, fixtures: Path, render_root: Path) -> list[tuple[str, str, int, dict[str, Any]]]:
    """``(stack, role, vms, config)`` in the order they are deployed."""

    def render(stack: str) -> dict[str, Any]:
        return {"kubernetes:renderYamlToDirectory": str(render_root / stack)}

    base = cell.label
    if cell.layout == "one":
        config = {
            **platform_values(fixtures),
            f"{NS}vmNamespace": "fleet",
            f"{NS}vms": vm_values(0, cell.vms),
            **render(base),
        }
        return [(base, "all", cell.vms, config)]
    platform = f"{base}-platform"
    plan = [(platform, "platform", 0, {**platform_values(fixtures), f"{NS}role": "platform", **render(platform)})]
    for part, first in enumerate(range(0, cell.vms, VMS_PER_STACK)):
        count = min(VMS_PER_STACK, cell.vms - first)
        stack = f"{base}-vms{part}"
        config = {
            f"{NS}role": "vms",
            f"{NS}platformStack": platform,
            f"{NS}vmNamespace": f"fleet-{part}",
            f"{NS}vms": vm_values(first, count),
            **render(stack),
        }
        plan.append((stack, "vms", count, config))
    return plan


def kubevirt_operator_manifest() -> str:
    """The e2e suite's stand-in, with schema-less CRDs (see the module docstring)."""
    return operator_manifest(swagger=None)


# --- the engine ----------------------------------------------------------------------------


@dataclass
class Bench:
    project: Project  # the program
    floor: Project  # the floor project, sibling of the program's copy, same PULUMI_HOME
    fixtures: Path
    render_root: Path
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # stack -> its outputs (platform stacks)

    @classmethod
    def create(cls, workdir: Path, tools: Toolchain) -> Bench:
        project = Project.create(workdir, tools)
        fixtures = project.root / "bench-fixtures"
        fixtures.mkdir()
        (fixtures / "kubevirt-operator.yaml").write_text(kubevirt_operator_manifest())
        shutil.copy(upstream.upstream_file(*upstream.MULTUS).path, fixtures / "multus-daemonset-thick.yml")
        floor_root = project.root / FLOOR_DIR
        (floor_root / "recordings").mkdir(parents=True)
        (floor_root / "Pulumi.yaml").write_text(FLOOR_PULUMI_YAML)
        (floor_root / "__main__.py").write_text(FLOOR_MAIN)
        (floor_root / "venv").symlink_to((REPO_ROOT / "venv").resolve())
        floor = Project(floor_root, project.home, tools)
        return cls(project, floor, fixtures, workdir / "rendered")

    def checkpoint_bytes(self, stack: str) -> int:
        return sum(path.stat().st_size for path in (self.project.home / "state" / ".pulumi" / "stacks").rglob(f"{stack}.json*"))

    def timed(self, target: Project, command: str, stack: str, role: str, vms: int) -> Step:
        argv = ["preview"] if command == "preview" else ["up", "--yes", "--skip-preview"]
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = target.pulumi(*argv, stack=stack, timeout=3600).check()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        counted = re.findall(r"(\d+) (?:to create|created)", result.stdout)
        return Step(
            command,
            stack,
            role,
            vms,
            result.seconds,
            cpu,
            load,
            int(counted[-1]) if counted else 0,
            self.checkpoint_bytes(stack) if command == "up" else 0,
        )

    def record_floor(self, stack: str, config: dict[str, Any]) -> None:
        """The program's registrations for this stack (mock engine), pickled for the floor to replay."""
        # The stack file is written next to the program only for the mock engine to read it.
        (self.project.root / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}, sort_keys=False))
        platform = config.get(f"{NS}platformStack")
        recording = record_stack(
            stack, project_dir=self.project.root, stack_outputs={platform: self.outputs[platform]} if platform else None
        )
        with open(self.floor.root / "recordings" / f"{stack}.pickle", "wb") as file:
            pickle.dump(replace(recording, transforms={}), file)

    def run(self, cell: Cell, log: Callable[[str], None]) -> CellResult:
        target = self.project if cell.kind == "program" else self.floor
        target.extra_env = {} if cell.checkpoints else {"PULUMI_SKIP_CHECKPOINTS": "true"}
        result = CellResult(cell)
        for stack, role, vms, config in stack_plan(cell, self.fixtures, self.render_root):
            if cell.kind == "floor":
                self.record_floor(stack, config)
            target.init_stack(stack, config)
            for command in ("preview", "up"):
                step = self.timed(target, command, stack, role, vms)
                result.steps.append(step)
                log(
                    f"  {stack} {command}: {step.seconds:.1f} s (cpu {step.cpu_seconds:.1f} s, load {step.load:.2f}, "
                    f"{step.resources} resources)"
                )
            if role == "platform":
                self.outputs[stack] = target.outputs(stack)
            shutil.rmtree(self.render_root / stack, ignore_errors=True)
        return result


# --- main --------------------------------------------------------------------------------------


def preconditions() -> tuple[Toolchain | None, list[str]]:
    try:
        upstream.upstream_file(*upstream.MULTUS)
        problems = []
    except upstream.UpstreamUnavailableError as error:
        problems = [f"upstream file: {error}"]
    try:
        return find_toolchain(ENGINE_TOOLS), problems
    except MissingToolsError as error:
        return None, [*problems, str(error)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="numbers of VMs (default 10 100 300 1000)")
    parser.add_argument("--layouts", nargs="+", default=["one", "split"], choices=["one", "split"])
    parser.add_argument("--checkpoints", nargs="+", default=["skipped", "kept"], choices=["skipped", "kept"])
    parser.add_argument("--full", action="store_true", help="also the slow cells (N=1000 in one stack with checkpoints kept)")
    parser.add_argument(
        "--merge", type=Path, help="a partial-results file of an earlier run: its cells are reported with this run's (not run again)"
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "BENCHMARKS.md", help="Markdown file to update ('-': print only)")
    args = parser.parse_args(argv)
    tools, problems = preconditions()
    if tools is None or problems:
        print(
            "make bench-engine: SKIPPED, nothing was measured; the real engine cannot run here:\n" + "\n".join(problems),
            file=sys.stderr,
        )
        return EXIT_SKIPPED
    cells, skipped = matrix(args.sizes, args.full)
    cells = [c for c in cells if c.layout in args.layouts and ("kept" if c.checkpoints else "skipped") in args.checkpoints]
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()
    results = load_results(args.merge) if args.merge else []
    done = {r.cell for r in results}
    cells = [c for c in cells if c not in done]
    with tempfile.TemporaryDirectory(prefix="kvm-bench-engine-") as temp:
        bench = Bench.create(Path(temp), tools)
        for cell in cells:
            print(f"{cell.label} ...", file=sys.stderr, flush=True)
            started_cell = time.monotonic()
            results.append(bench.run(cell, log=lambda line: print(line, file=sys.stderr, flush=True)))
            print(f"{cell.label}: {time.monotonic() - started_cell:.0f} s", file=sys.stderr, flush=True)
            (Path(temp).parent / "kvm-bench-engine-partial.json").write_text(
                json.dumps([{"cell": r.cell.label, "steps": [s.__dict__ for s in r.steps]} for r in results])
            )
    results.sort(key=lambda r: (r.cell.vms, r.cell.layout != "one", r.cell.checkpoints, r.cell.kind != "program"))
    markdown = render_markdown(results, skipped, started, load, os.getloadavg())
    if str(args.out) != "-":
        write_results(args.out, markdown, RESULTS_START, RESULTS_END)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
