"""The floor: a program that registers a recording's resources again, with no logic of ours.

Replaying a recording of ``__main__.py`` through generic ``pulumi.CustomResource`` and
``pulumi.ComponentResource`` registers the same types, names, inputs, parents and
dependencies, so ``program time / floor time`` is the cost of our own code (config
validation, manifest builders, components, provider SDK classes) over the bare cost of
registering that many resources with the Pulumi SDK under the same engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pulumi

from offline.engine import STACK_REFERENCE, RecordedResource, Recording, is_secret


def rebuild_input(value: Any) -> Any:
    """A recorded input value as the program passed it: secrets wrapped, assets as assets."""
    if is_secret(value):
        return pulumi.Output.secret(rebuild_input(value["value"]))
    if isinstance(value, dict):
        if value.keys() == {"fileAsset"}:
            return pulumi.FileAsset(value["fileAsset"])
        if value.keys() == {"stringAsset"}:
            return pulumi.StringAsset(value["stringAsset"])
        return {key: rebuild_input(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rebuild_input(item) for item in value]
    return value


def replay(recording: Recording) -> Callable[[], None]:
    """A Pulumi program registering ``recording``'s resources and exporting its outputs.

    Recorded order is a valid creation order: a request names its parent's and its
    dependencies' URNs, which exist only once those were registered. A component that is
    itself a dependency was registered as remote (``yaml.v2.ConfigFile``): the SDK replaces
    a local component in ``depends_on`` by its children (``pulumi.runtime.rpc._add_dependency``).
    A ``vms`` stack's StackReference is read again as one, by the stack name it read.
    """
    waited_on = {urn for resource in recording.resources for urn in resource.dependencies}

    def program() -> None:
        registered: dict[str, pulumi.Resource] = {}
        for resource in recording.resources:
            opts = pulumi.ResourceOptions(
                parent=registered[resource.parent] if resource.parent else None,
                depends_on=[registered[urn] for urn in resource.dependencies],
                replace_on_changes=list(resource.replace_on_changes) or None,
                delete_before_replace=resource.delete_before_replace,
            )
            if resource.type == STACK_REFERENCE:
                # A read, not a registration (the engine's builtin provider creates no such resource).
                registered[resource.urn] = pulumi.StackReference(resource.name, resource.inputs["name"], opts)
                continue
            props = rebuild_input(dict(resource.inputs))
            if resource.custom:
                registered[resource.urn] = pulumi.CustomResource(resource.type, resource.name, props, opts)
            else:
                registered[resource.urn] = pulumi.ComponentResource(
                    resource.type, resource.name, props, opts, remote=resource.urn in waited_on
                )
        for key, value in recording.outputs.items():
            pulumi.export(key, rebuild_input(value))

    return program


def _comparable(resource: RecordedResource) -> dict[str, Any]:
    return {
        "type": resource.type,
        "name": resource.name,
        "custom": resource.custom,
        "parent": resource.parent,
        "dependencies": sorted(set(resource.dependencies)),
        "inputs": resource.inputs,
        "replaceOnChanges": list(resource.replace_on_changes),
        "deleteBeforeReplace": resource.delete_before_replace,
    }


def replay_differences(program: Recording, floor: Recording) -> list[str]:
    """What differs between two recordings, URN by URN (registration order is ignored).

    Compared: type, name, custom, parent, dependencies as a set, inputs, replaceOnChanges and
    deleteBeforeReplace, stack outputs.
    Property dependencies are not: the floor passes plain values, so every edge is explicit.
    """
    expected: Mapping[str, dict[str, Any]] = {r.urn: _comparable(r) for r in program.resources}
    actual: Mapping[str, dict[str, Any]] = {r.urn: _comparable(r) for r in floor.resources}
    differences = [f"missing from the floor: {urn}" for urn in sorted(expected.keys() - actual.keys())]
    differences += [f"only in the floor: {urn}" for urn in sorted(actual.keys() - expected.keys())]
    for urn in sorted(expected.keys() & actual.keys()):
        for key, value in expected[urn].items():
            if actual[urn][key] != value:
                differences.append(f"{urn}: {key} differs: {value!r} != {actual[urn][key]!r}")
    if program.outputs != floor.outputs:
        differences.append("stack outputs differ")
    return differences


class ReplayMismatchError(AssertionError):
    """The floor did not register the same resource set as the program."""


def check_replay(program: Recording, floor: Recording) -> None:
    """Raise ``ReplayMismatchError`` unless ``floor`` registered what ``program`` did."""
    differences = replay_differences(program, floor)
    if differences:
        shown = "\n  ".join(differences[:20])
        raise ReplayMismatchError(f"the floor does not replay the program ({len(differences)} differences):\n  {shown}")
