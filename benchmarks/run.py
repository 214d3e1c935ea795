"""Benchmarks: the program with N VMs against its floor, and the dependency graph's shape.

``python -m benchmarks.run`` (``make bench``) generates a stack config with N VMs (two
macvtap networks, two nodes in ssh mode, a fake CNI binary and a fake SSH key), records
it once in this process (the graph analysis, and the proof that the floor registers the
same resource set), then times the program and its floor alternately, each measurement in
a fresh child process, and writes the table into BENCHMARKS.md.

Why a fresh child per measurement, with ``getrusage`` peak RSS rather than tracemalloc:
tracemalloc slows the interpreter several times over and sees only Python's allocations
(not protobuf's or the event loop's C side), so its timings could not be reported next to
its memory. A child's peak RSS costs nothing to measure, counts every allocation and is
not flattered by memory that an earlier run in the same process freed but kept. The child
first runs the program with one VM (imports and lazy SDK modules loaded, the same for both
kinds), then measures from its current RSS: peak memory is ``ru_maxrss - RSS before``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import json
import os
import pickle
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from benchmarks.floor import check_replay, replay
from benchmarks.graph import critical_path, width
from offline.engine import PROJECT_ROOT, Recording, record_callable, record_program, record_stack

DEFAULT_SIZES = (10, 100, 1000)
DEFAULT_REPEATS = 5
STACK = "bench"
NAMESPACE = "kvm-in-a-pod"
SSH_KEY_CONFIG = f"{NAMESPACE}:sshPrivateKey"
# Like tests/conftest.py's: recognisable, not a real key.
FAKE_SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nkvm-in-a-pod-benchmark-key-bm90LWEta2V5\n-----END OPENSSH PRIVATE KEY-----\n"
RESULTS_START = "<!-- benchmark results: written by `python -m benchmarks.run` -->"
RESULTS_END = "<!-- end of benchmark results -->"
# Targets to measure against, not to assert.
TARGET_RATIO = 1.15
TARGET_PER_VM_GROWTH = 1.2

Kind = Literal["program", "floor"]


def stack_config(vms: int, cni_binary: Path) -> tuple[dict[str, str], list[str]]:
    """Config (``key -> JSON string``, as the CLI passes it) for ``vms`` VMs on two networks."""
    values: dict[str, Any] = {
        "kubevirt": {"version": "v1.9.0"},
        "multus": {"install": True},
        "macvtap": {
            "cniInstall": "ssh",
            "cniBinaryPath": str(cni_binary),
            "lowerDevices": [
                {"name": "lan", "lowerDevice": "eno2", "mode": "bridge", "capacity": 20},
                {"name": "storage", "lowerDevice": "eno3", "mode": "vepa", "capacity": 10},
            ],
        },
        "nodes": [
            {"name": "node01", "host": "192.0.2.11", "user": "root"},
            {"name": "node02", "host": "192.0.2.12", "port": 2222, "user": "kvmadmin"},
        ],
        "vms": [
            {
                "name": f"vm{index:04d}",
                "memory": "2Gi",
                "cpuCores": 2,
                "sshAuthorizedKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILGobVdNcr3L+mVU/hG5B0Ui0NFxv5wnhVMiHt2zyrkI ops@lab"],
                "macvtap": [{"network": "lan"}, {"network": "storage", "mtu": 9000}],
            }
            for index in range(vms)
        ],
    }
    config = {f"{NAMESPACE}:{key}": json.dumps(value) for key, value in values.items()}
    config[SSH_KEY_CONFIG] = FAKE_SSH_KEY
    return config, [SSH_KEY_CONFIG]


def write_fake_cni_binary(directory: Path) -> Path:
    path = directory / "macvtap"
    path.write_bytes(b"#!/bin/sh\necho 'fake macvtap CNI for benchmarks'\n")
    return path


@dataclass(frozen=True)
class Sample:
    """One measurement in a child process."""

    wall_s: float
    cpu_s: float  # process CPU time, all threads: less disturbed than wall by a loaded machine
    peak_rss_delta_bytes: int
    resources: int


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))


@dataclass(frozen=True)
class SizeResult:
    vms: int
    resources: int
    program: list[Sample]
    floor: list[Sample]  # floor[i] was measured next to program[i]
    critical_path: list[str]
    width: int

    def wall(self, kind: Kind) -> Spread:
        return Spread.of([s.wall_s for s in self._samples(kind)])

    def cpu(self, kind: Kind) -> Spread:
        return Spread.of([s.cpu_s for s in self._samples(kind)])

    def peak_mib(self, kind: Kind) -> Spread:
        return Spread.of([s.peak_rss_delta_bytes / 2**20 for s in self._samples(kind)])

    def ratio(self, clock: Literal["wall", "cpu"] = "wall") -> Spread:
        """program / floor, pair by pair (each pair ran back to back)."""
        key: Callable[[Sample], float] = (lambda s: s.wall_s) if clock == "wall" else (lambda s: s.cpu_s)
        return Spread.of([key(p) / key(f) for p, f in zip(self.program, self.floor, strict=True)])

    def _samples(self, kind: Kind) -> list[Sample]:
        return self.program if kind == "program" else self.floor


@dataclass(frozen=True)
class GraphResult:
    stack: str
    resources: int
    critical_path: list[str]
    width: int


@dataclass(frozen=True)
class Report:
    machine: dict[str, str]
    started: str
    load_start: tuple[float, float, float]
    load_end: tuple[float, float, float]
    repeats: int
    sizes: list[SizeResult]
    graphs: list[GraphResult]

    def size(self, vms: int) -> SizeResult | None:
        return next((result for result in self.sizes if result.vms == vms), None)

    def targets(self) -> list[tuple[str, str, bool | None]]:
        """``(target, measured, met)``, judged on wall time; ``met`` is None when the sizes needed were not run."""
        hundred, thousand = self.size(100), self.size(1000)
        rows: list[tuple[str, str, bool | None]] = []
        if thousand is not None:
            wall, cpu = thousand.ratio("wall").median, thousand.ratio("cpu").median
            rows.append((f"program/floor at N=1000 <= {TARGET_RATIO}", f"wall {wall:.3f}, cpu {cpu:.3f}", wall <= TARGET_RATIO))
        else:
            rows.append((f"program/floor at N=1000 <= {TARGET_RATIO}", "N=1000 not run", None))
        if thousand is not None and hundred is not None:
            wall = (thousand.wall("program").median / 1000) / (hundred.wall("program").median / 100)
            cpu = (thousand.cpu("program").median / 1000) / (hundred.cpu("program").median / 100)
            rows.append(
                (
                    f"time per VM at N=1000 <= {TARGET_PER_VM_GROWTH} x N=100",
                    f"wall {wall:.3f}x, cpu {cpu:.3f}x",
                    wall <= TARGET_PER_VM_GROWTH,
                )
            )
        else:
            rows.append((f"time per VM at N=1000 <= {TARGET_PER_VM_GROWTH} x N=100", "N=100 and N=1000 not both run", None))
        lengths = sorted({len(result.critical_path) for result in self.sizes})
        rows.append(("critical path independent of N", f"lengths {lengths}", len(lengths) == 1 if self.sizes else None))
        return rows


# --- one measurement, in a child process -------------------------------------------------


def _current_rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def measure(spec: dict[str, Any]) -> Sample:
    """Warm up with one VM, then time ``spec["kind"]`` and take its peak RSS over the start."""
    config, secret_keys = spec["config"], spec["secret_keys"]
    run: Callable[[], Recording]
    if spec["kind"] == "floor":
        with open(spec["recording"], "rb") as file:
            floor = replay(pickle.load(file))
        run = lambda: record_callable(floor, config, secret_keys, stack=STACK)  # noqa: E731
    else:
        run = lambda: record_program(config, secret_keys, stack=STACK)  # noqa: E731
    record_program(spec["warmup_config"], secret_keys, stack=STACK)
    gc.collect()
    before = _current_rss_bytes()
    wall, cpu = time.perf_counter(), time.process_time()
    recording = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Sample(wall, cpu, max(0, _peak_rss_bytes() - before), len(recording.resources))


def _child_main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    sample = measure(spec)
    Path(spec["result"]).write_text(json.dumps(dataclasses.asdict(sample)))


def measure_in_child(kind: Kind, workdir: Path, config: dict[str, str], secret_keys: list[str], warmup: dict[str, str]) -> Sample:
    result = workdir / f"{kind}-result.json"
    spec = {
        "kind": kind,
        "config": config,
        "secret_keys": secret_keys,
        "warmup_config": warmup,
        "recording": str(workdir / "recording.pickle"),
        "result": str(result),
    }
    spec_path = workdir / f"{kind}-spec.json"
    spec_path.write_text(json.dumps(spec))
    subprocess.run([sys.executable, "-m", "benchmarks.run", "--child", str(spec_path)], cwd=PROJECT_ROOT, check=True)
    return Sample(**json.loads(result.read_text()))


# --- the benchmark ----------------------------------------------------------------------


def benchmark_size(vms: int, repeats: int, workdir: Path, cni_binary: Path) -> SizeResult:
    config, secret_keys = stack_config(vms, cni_binary)
    warmup, _ = stack_config(1, cni_binary)
    recording = record_program(config, secret_keys, stack=STACK)
    # The proof that the floor replays the same resource set, before anything is timed.
    check_replay(recording, record_callable(replay(recording), config, secret_keys, stack=STACK))
    with open(workdir / "recording.pickle", "wb") as file:
        # Transforms are the program's own callables: not data, and not part of the replay.
        pickle.dump(dataclasses.replace(recording, transforms={}), file)
    program: list[Sample] = []
    floor: list[Sample] = []
    for repeat in range(repeats):
        # Alternate which goes first, so that a drift in the machine's load hits both alike.
        order: tuple[Kind, Kind] = ("program", "floor") if repeat % 2 == 0 else ("floor", "program")
        for kind in order:
            sample = measure_in_child(kind, workdir, config, secret_keys, warmup)
            if sample.resources != len(recording.resources):
                raise RuntimeError(f"{kind} registered {sample.resources} resources, expected {len(recording.resources)}")
            (program if kind == "program" else floor).append(sample)
    return SizeResult(vms, len(recording.resources), program, floor, critical_path(recording), width(recording))


def record_lab(cni_binary: Path) -> Recording:
    """The committed lab stack, with a fake CNI binary and a fake SSH key (as the tests do)."""
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.lab.yaml").read_text())
    macvtap = dict(document["config"][f"{NAMESPACE}:macvtap"], cniBinaryPath=str(cni_binary))
    return record_stack("lab", config_overrides={f"{NAMESPACE}:macvtap": macvtap}, secret_values={SSH_KEY_CONFIG: FAKE_SSH_KEY})


def graph_result(stack: str, recording: Recording) -> GraphResult:
    return GraphResult(stack, len(recording.resources), critical_path(recording), width(recording))


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "machine": platform.machine(),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "pulumi": _version("pulumi"),
    }


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def run_benchmarks(sizes: Sequence[int] = DEFAULT_SIZES, repeats: int = DEFAULT_REPEATS, log: Callable[[str], None] = print) -> Report:
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="kvm-bench-") as temp:
        workdir = Path(temp)
        cni_binary = write_fake_cni_binary(workdir)
        graphs = [graph_result("dev", record_stack("dev")), graph_result("lab", record_lab(cni_binary))]
        results = []
        for vms in sizes:
            log(f"N={vms}: {repeats} x (program, floor), alternating ...")
            result = benchmark_size(vms, repeats, workdir, cni_binary)
            results.append(result)
            graphs.append(GraphResult(f"N={vms}", result.resources, result.critical_path, result.width))
    return Report(machine(), started, load_start, os.getloadavg(), repeats, results, graphs)


# --- the report -------------------------------------------------------------------------


def _ms(spread: Spread, scale: float = 1000.0) -> str:
    return f"{spread.median * scale:.0f} ({spread.low * scale:.0f}-{spread.high * scale:.0f})"


def _ratio(spread: Spread) -> str:
    return f"{spread.median:.2f} ({spread.low:.2f}-{spread.high:.2f})"


def _load(values: tuple[float, float, float]) -> str:
    return " / ".join(f"{value:.2f}" for value in values)


def render_markdown(report: Report) -> str:
    m = report.machine
    lines = [
        RESULTS_START,
        f"Run {report.started} on {m['machine']}, {m['cpu']}, {m['cores']} cores, Python {m['python']}, pulumi {m['pulumi']}.",
        f"Load average (1/5/15 min) at start {_load(report.load_start)}, at end {_load(report.load_end)}.",
        f"{report.repeats} repeats per N, program and floor alternating, each in a fresh process; "
        "median (min-max). Peak mem: peak RSS over the RSS before the run.",
        "",
        "| N | resources | wall ms | wall ms/VM | CPU ms | CPU ms/VM | peak mem MiB "
        "| floor wall ms | floor CPU ms | floor peak MiB | ratio wall | ratio CPU |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report.sizes:
        lines.append(
            f"| {r.vms} | {r.resources} | {_ms(r.wall('program'))} | {_ms(r.wall('program'), 1000 / r.vms)} "
            f"| {_ms(r.cpu('program'))} | {_ms(r.cpu('program'), 1000 / r.vms)} | {_ms(r.peak_mib('program'), 1)} "
            f"| {_ms(r.wall('floor'))} | {_ms(r.cpu('floor'))} | {_ms(r.peak_mib('floor'), 1)} "
            f"| {_ratio(r.ratio('wall'))} | {_ratio(r.ratio('cpu'))} |"
        )
    lines += [
        "",
        "Dependency graph (custom resources and remote components, edges = recorded dependencies; "
        "width = largest level of the longest-path layering):",
        "",
        "| stack | resources | critical path length | width | critical path |",
        "|---|---:|---:|---:|---|",
    ]
    for g in report.graphs:
        lines.append(f"| {g.stack} | {g.resources} | {len(g.critical_path)} | {g.width} | {' → '.join(g.critical_path)} |")
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    for target, measured, met in report.targets():
        lines.append(f"| {target} | {measured} | {'n/a' if met is None else 'yes' if met else 'no'} |")
    lines.append(RESULTS_END)
    return "\n".join(lines) + "\n"


def write_results(path: Path, markdown: str, start: str = RESULTS_START, end: str = RESULTS_END) -> None:
    """Replace the block of ``path`` between ``start`` and ``end`` (created if missing); the notes around it stay."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n" + start + "\n" + end + "\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        tail = rest.split(end, 1)[1]
        text = head + markdown.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + markdown
    path.write_text(text)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="numbers of VMs (default 10 100 1000)")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="measurements per N and kind (default 5)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "BENCHMARKS.md", help="Markdown file to update")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child_main(args.child)
        return
    report = run_benchmarks(args.sizes, args.repeats, log=lambda line: print(line, file=sys.stderr, flush=True))
    markdown = render_markdown(report)
    write_results(args.out, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
