"""The shape of a recording's dependency graph: its critical path and its width.

The graph: one node per resource the engine must wait for, one edge per recorded
dependency (``RegisterResource.dependencies``: explicit ``depends_on`` and the implicit
edges of Output inputs). Parent links are not edges: a child does not wait for its parent.
Nodes are the custom resources plus every resource on an edge (a remote component such as
``yaml.v2.ConfigFile`` is waited on as a whole); a local component with no edge only groups
its children and is left out.

- ``level(r)``: the number of resources on the longest dependency chain ending at ``r``
  (1 for a resource without dependencies): the earliest wave in which ``r`` can start if
  every resource took the same time.
- ``critical_path``: a longest chain, by names, from a resource without dependencies to the
  one that waits for it last; its length is the number of waves a deployment needs.
- ``width``: the size of the largest level. A level is an antichain (no resource in it waits
  for another), so this is how many resources can be in flight at once in that layering
  (a lower bound of the maximum antichain).
"""

from __future__ import annotations

from collections import Counter

from offline.engine import Recording
from offline.render import apply_order


def dependency_graph(recording: Recording) -> dict[str, tuple[str, ...]]:
    """``urn -> the urns it depends on`` over the graph's nodes (see the module docstring)."""
    known = {resource.urn for resource in recording.resources}
    on_edges: set[str] = set()
    for resource in recording.resources:
        missing = set(resource.dependencies) - known
        if missing:
            raise ValueError(f"{resource.name} depends on resources not in the recording: {sorted(missing)}")
        if resource.dependencies:
            on_edges.add(resource.urn)
            on_edges.update(resource.dependencies)
    return {
        resource.urn: tuple(dict.fromkeys(resource.dependencies))
        for resource in recording.resources
        if resource.custom or resource.urn in on_edges
    }


def levels(recording: Recording) -> dict[str, int]:
    """``urn -> level`` (longest-path layering from the resources without dependencies).

    One pass in the offline plan's apply order, which already puts every resource after its
    dependencies (and refuses a cycle).
    """
    graph = dependency_graph(recording)
    level: dict[str, int] = {}
    for resource in apply_order(recording):
        if resource.urn in graph:
            level[resource.urn] = 1 + max((level[urn] for urn in graph[resource.urn]), default=0)
    return level


def critical_path(recording: Recording) -> list[str]:
    """Names along a longest dependency chain, first to last; ties go to the smallest name."""
    level = levels(recording)
    if not level:
        return []
    graph = dependency_graph(recording)
    name = {resource.urn: resource.name for resource in recording.resources}
    last = min(level, key=lambda urn: (-level[urn], name[urn]))
    path = [last]
    while level[path[-1]] > 1:
        below = level[path[-1]] - 1
        path.append(min((urn for urn in graph[path[-1]] if level[urn] == below), key=name.__getitem__))
    return [name[urn] for urn in reversed(path)]


def width(recording: Recording) -> int:
    """The number of resources in the largest level (0 for an empty graph)."""
    counts = Counter(levels(recording).values())
    return max(counts.values(), default=0)
