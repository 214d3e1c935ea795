"""Claims about the benchmarks (benchmarks/), so that they cannot rot; timings are not claims.

- At N=3 the whole benchmark runs (children included) and its report has one row per N,
  one sample per repeat and kind, and the graph of dev, lab and the N-VM stack.
- The floor registers the program's resource set: types, names, parents, dependencies,
  inputs and outputs; a missing or changed resource is caught.
- graph.py: the critical path and width of hand-made recordings, known by construction.
- Writing BENCHMARKS.md replaces only the results block.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from benchmarks.floor import ReplayMismatchError, check_replay, replay, replay_differences
from benchmarks.graph import critical_path, levels, width
from benchmarks.run import (
    RESULTS_END,
    RESULTS_START,
    STACK,
    Report,
    render_markdown,
    run_benchmarks,
    stack_config,
    write_fake_cni_binary,
    write_results,
)
from offline.engine import RecordedResource, Recording, record_callable, record_program

# Per VM: the MacvtapVM component and the VMI. Fixed: 5 components, 2 ConfigFiles, KubeVirt CR,
# Namespace, ServiceAccount, ConfigMap, DaemonSet, 2 copies, 2 installs, and the two shared NADs
# (lan, storage mtu 9000) every VM uses, and the VMIs' client-side-apply provider.
RESOURCES_AT_3_VMS = 19 + 2 * 3
PLATFORM_CHAIN = ["macvtap-namespace", "macvtap-config", "macvtap-daemonset"]


@pytest.fixture(scope="module")
def report() -> Report:
    return run_benchmarks(sizes=(3,), repeats=1, log=lambda _: None)


@pytest.fixture(scope="module")
def three_vms(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], list[str], Recording]:
    config, secret_keys = stack_config(3, write_fake_cni_binary(tmp_path_factory.mktemp("cni")))
    return config, secret_keys, record_program(config, secret_keys, stack=STACK)


def test_report_has_one_row_per_size_with_a_sample_per_repeat(report: Report) -> None:
    [row] = report.sizes
    assert (row.vms, row.resources) == (3, RESOURCES_AT_3_VMS)
    assert len(row.program) == len(row.floor) == report.repeats == 1
    for sample in [*row.program, *row.floor]:
        assert sample.resources == RESOURCES_AT_3_VMS
        assert sample.wall_s > 0 and sample.cpu_s > 0 and sample.peak_rss_delta_bytes >= 0


def test_report_analyses_dev_lab_and_the_generated_stack(report: Report) -> None:
    assert [(g.stack, len(g.critical_path), g.width) for g in report.graphs] == [("dev", 4, 4), ("lab", 4, 8), ("N=3", 4, 7)]
    assert report.graphs[-1].critical_path == [*PLATFORM_CHAIN, "vm0000-vmi"]


def test_report_records_the_machine_and_marks_targets_it_could_not_judge(report: Report) -> None:
    assert set(report.machine) == {"machine", "cpu", "cores", "python", "pulumi"}
    assert [met for _, _, met in report.targets()] == [None, None, True]


def test_markdown_has_a_results_row_per_size_and_a_graph_row_per_stack(report: Report) -> None:
    markdown = render_markdown(report)
    assert markdown.startswith(RESULTS_START) and markdown.rstrip().endswith(RESULTS_END)
    assert "| 3 | 25 |" in markdown
    assert f"| N=3 | 25 | 4 | 7 | {' → '.join([*PLATFORM_CHAIN, 'vm0000-vmi'])} |" in markdown
    assert "| critical path independent of N | lengths [4] | yes |" in markdown


def test_floor_replays_the_programs_resource_set(three_vms: tuple[dict[str, str], list[str], Recording]) -> None:
    config, secret_keys, program = three_vms
    floor = record_callable(replay(program), config, secret_keys, stack=STACK)
    assert replay_differences(program, floor) == []
    assert sorted(r.urn for r in floor.resources) == sorted(r.urn for r in program.resources)


def test_floor_check_catches_a_changed_or_missing_resource(three_vms: tuple[dict[str, str], list[str], Recording]) -> None:
    _, _, program = three_vms
    changed = dataclasses.replace(program.resources[-1], inputs={})
    tampered = dataclasses.replace(program, resources=[*program.resources[1:-1], changed])
    differences = replay_differences(program, tampered)
    assert f"missing from the floor: {program.resources[0].urn}" in differences
    assert any(d.startswith(f"{changed.urn}: inputs differs") for d in differences)
    with pytest.raises(ReplayMismatchError):
        check_replay(program, tampered)


# --- graph.py on hand-made recordings ----------------------------------------------------


def resource(name: str, *dependencies: str, custom: bool = True, parent: str = "") -> RecordedResource:
    return RecordedResource(
        urn=f"urn:{name}",
        type="test:index:Custom" if custom else "test:index:Component",
        name=name,
        custom=custom,
        parent=f"urn:{parent}" if parent else "",
        dependencies=tuple(f"urn:{d}" for d in dependencies),
        property_dependencies={},
        inputs={},
        provider="",
    )


def recording(*resources: RecordedResource) -> Recording:
    return Recording(stack="test", resources=list(resources))


def test_critical_path_is_the_longest_chain_in_dependency_order() -> None:
    # a -> b -> c -> d is the longest; x -> d and y are shorter.
    graph = recording(resource("d", "c", "x"), resource("c", "b"), resource("b", "a"), resource("a"), resource("x"), resource("y"))
    assert critical_path(graph) == ["a", "b", "c", "d"]


def test_critical_path_ties_go_to_the_smallest_names() -> None:
    graph = recording(resource("q", "p2", "p1"), resource("p2"), resource("p1"), resource("r", "p1"))
    assert critical_path(graph) == ["p1", "q"]


def test_width_is_the_largest_level_of_the_longest_path_layering() -> None:
    # Levels: {a, e} 1, {b, c, d} 2, {f} 3 (f waits for c, and for a directly).
    graph = recording(resource("a"), resource("e"), resource("b", "a"), resource("c", "a"), resource("d", "e"), resource("f", "c", "a"))
    assert levels(graph) == {"urn:a": 1, "urn:e": 1, "urn:b": 2, "urn:c": 2, "urn:d": 2, "urn:f": 3}
    assert width(graph) == 3


def test_parents_are_not_edges_and_grouping_components_are_not_nodes() -> None:
    graph = recording(resource("vm", custom=False), resource("nad", parent="vm"), resource("vmi", "nad", parent="vm"))
    assert critical_path(graph) == ["nad", "vmi"]
    assert set(levels(graph)) == {"urn:nad", "urn:vmi"}


def test_a_component_that_is_waited_on_is_a_node() -> None:
    graph = recording(resource("manifest", custom=False), resource("nad", "manifest"))
    assert critical_path(graph) == ["manifest", "nad"]


def test_empty_graph_has_no_path_and_no_width() -> None:
    assert (critical_path(recording()), width(recording())) == ([], 0)


def test_a_cycle_or_an_unknown_dependency_is_refused() -> None:
    with pytest.raises(ValueError, match="cycle"):
        levels(recording(resource("a", "b"), resource("b", "a"), resource("c")))
    with pytest.raises(ValueError, match="not in the recording"):
        levels(recording(resource("a", "ghost")))


# --- BENCHMARKS.md -----------------------------------------------------------------------


def test_write_results_replaces_only_the_results_block(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(f"# Benchmarks\nintro\n{RESULTS_START}\nold table\n{RESULTS_END}\n## Profile notes\nkept\n")
    write_results(path, f"{RESULTS_START}\nnew table\n{RESULTS_END}\n")
    assert path.read_text() == f"# Benchmarks\nintro\n{RESULTS_START}\nnew table\n{RESULTS_END}\n## Profile notes\nkept\n"
