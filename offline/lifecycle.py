"""What ``pulumi up`` would do to each resource between two recordings of the program.

A model of the two upstream decisions, so that tests can check how a change of config reaches
the cluster without the CLI:

- the kubernetes provider's ``Diff`` (pulumi-kubernetes v4, provider.go): a client-side JSON
  merge patch from the old inputs to the new ones, turned into a detailed diff of *leaf* paths
  (``spec.domain.resources.requests.memory``; a key holding ``.`` is written ``["..."]``:
  ``metadata.annotations["pulumi.com/waitFor"]``). Arrays are compared element by element. A
  change of ``metadata.name`` or ``metadata.namespace`` (the object's identity) replaces;
  otherwise a custom resource is updated in place;
- the engine's ``applyReplaceOnChanges`` (pkg/resource/deploy/step_generator.go): a changed path
  that a ``replaceOnChanges`` path *contains* (is a prefix of it, ``*`` matching any one key or
  index) turns the update into a replacement. The provider asks for delete-before-replace when
  the name and namespace stay; the ``deleteBeforeReplace`` option asks for it too.

The model assumes the live objects equal the old inputs (no drift, no server-side mutation of
the fields we set), which is what the provider compares against once defaults are pruned.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from offline.engine import RecordedResource, Recording, unwrap_secrets

Operation = Literal["create", "delete", "same", "update", "replace"]
PathPart = str | int
IDENTITY_PATHS = (("metadata", "name"), ("metadata", "namespace"))
WILDCARD = "*"

_PATH_TOKEN = re.compile(r'\.?([^.\[\]"]+)|\["((?:[^"\\]|\\.)*)"\]|\[(\d+|\*)\]')


def parse_property_path(text: str) -> tuple[PathPart, ...]:
    """``a.b["c.d"][0]`` -> ``("a", "b", "c.d", 0)``, as Pulumi's resource.ParsePropertyPath reads it."""
    parts: list[PathPart] = []
    position = 0
    while position < len(text):
        match = _PATH_TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"not a property path: {text!r} (at {position})")
        name, quoted, index = match.groups()
        if name is not None:
            parts.append(name)
        elif quoted is not None:
            parts.append(quoted.replace('\\"', '"'))
        else:
            parts.append(WILDCARD if index == WILDCARD else int(index))
        position = match.end()
    return tuple(parts)


def format_property_path(path: Sequence[PathPart]) -> str:
    """The provider's spelling of a detailed-diff key (provider.go, addPatchValueToDiff)."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif any(character in part for character in '."[]'):
            text += '["' + part.replace('"', '\\"') + '"]'
        else:
            text += f".{part}" if text else part
    return text


def contains(outer: Sequence[PathPart], inner: Sequence[PathPart]) -> bool:
    """PropertyPath.Contains: ``inner`` lies at or under ``outer``; ``*`` matches one step."""
    if len(inner) < len(outer):
        return False
    return all(step in (WILDCARD, other) for step, other in zip(outer, inner, strict=False))


def changed_paths(old: Any, new: Any, path: tuple[PathPart, ...] = ()) -> Iterator[tuple[PathPart, ...]]:
    """The leaf paths where ``new`` differs from ``old`` (maps and arrays recursed into)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new)):
            if key not in new or key not in old:
                yield (*path, key)
            else:
                yield from changed_paths(old[key], new[key], (*path, key))
    elif isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            if index >= len(old) or index >= len(new):
                yield (*path, index)
            else:
                yield from changed_paths(old[index], new[index], (*path, index))
    elif old != new:
        yield path


@dataclass(frozen=True)
class Step:
    """What the engine does to one resource, and why."""

    name: str
    type: str
    operation: Operation
    changed: tuple[str, ...] = ()  # detailed-diff keys
    replaced_by: tuple[str, ...] = ()  # the changed keys that force the replacement
    delete_before_replace: bool = False


def step_for(old: RecordedResource | None, new: RecordedResource | None) -> Step:
    """The step for one URN: present in ``old``, ``new`` or both."""
    if old is None and new is not None:
        return Step(new.name, new.type, "create")
    if new is None and old is not None:
        return Step(old.name, old.type, "delete")
    assert old is not None and new is not None
    paths = list(changed_paths(unwrap_secrets(dict(old.inputs)), unwrap_secrets(dict(new.inputs))))
    if not paths:
        return Step(new.name, new.type, "same")
    changed = tuple(format_property_path(path) for path in paths)
    if not new.custom:
        return Step(new.name, new.type, "update", changed)
    replace_paths = [parse_property_path(text) for text in new.replace_on_changes]
    forcing = tuple(
        format_property_path(path)
        for path in paths
        if any(contains(identity, path) for identity in IDENTITY_PATHS) or any(contains(outer, path) for outer in replace_paths)
    )
    if not forcing:
        return Step(new.name, new.type, "update", changed)
    identity_kept = not any(any(contains(identity, path) for identity in IDENTITY_PATHS) for path in paths)
    return Step(new.name, new.type, "replace", changed, forcing, delete_before_replace=new.delete_before_replace or identity_kept)


def plan_steps(before: Recording, after: Recording) -> dict[str, Step]:
    """Resource name -> step, for every resource in either recording (matched by URN)."""
    old = {resource.urn: resource for resource in before.resources}
    new = {resource.urn: resource for resource in after.resources}
    steps = [step_for(old.get(urn), new.get(urn)) for urn in sorted(old.keys() | new.keys())]
    return {step.name: step for step in steps}


def touched(steps: Mapping[str, Step]) -> dict[str, Operation]:
    """Only the resources that change: name -> operation."""
    return {name: step.operation for name, step in sorted(steps.items()) if step.operation != "same"}
