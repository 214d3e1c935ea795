"""What the components' typed interface shares: the NIC and network types, and how bad arguments are refused.

``MacvtapVM`` and ``MacvtapNetworks`` each take an Args TypedDict of ``pulumi.Input`` fields, one
docstring per field. Pulumi's component analyzer infers the package schema from exactly these
annotations and docstrings (pulumi/provider/experimental/analyzer.py, SDK 3.272), so what a Python
program passes and what TypeScript, Go or YAML see through ``pulumi package add`` is one definition.

Field names are the stack config's own (``cpuCores``, ``promiscMode``), not snake_case. The
analyzer maps a schema name to a Python name with ``camel_case``, but the provider host maps the
nested keys of an input only when that input arrives as a plain value: one with dependencies (a
StackReference output) arrives as an ``Output`` and is passed on unmapped, camelCase inside
(provider/experimental/component.py, ``map_input_properties``; server.py, ``_select_value``).
Names ``camel_case`` leaves unchanged read the same either way, and a VM entry of a stack's
``kvm-in-a-pod:vms`` is valid ``MacvtapVMArgs`` as it stands, so the config models validate both.

A refusal names each bad input by its property path (``macvtap[0].mac``). Hosted in the
component provider, it is an ``InputPropertiesError``: the engine prints one line per path with
its value (pkg/resource/deploy/source_eval.go, ``errorToMessage``). In a Python program it is a
``pulumi.RunError``, which the language host prints without a stack trace. Problems with the
console password go into the message instead, so the engine never prints that value.
"""

import inspect
from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict, cast

import pulumi
from pulumi.errors import InputPropertiesError

from components.platform_export import PlatformNetwork, read_platform_networks

PASSWORD_INPUT = "consolePassword"

# Set by the component provider's entry point (components/package.py), never by a program.
_hosted = False


def refuse_as_input_properties() -> None:
    """From now on refusals are InputPropertiesErrors: this process hosts the components for the engine."""
    global _hosted  # one switch, flipped once at start-up by the provider host
    _hosted = True


def hosted() -> bool:
    """Is this process the component provider (the components constructed for another language's program)?"""
    return _hosted


class MacvtapNic(TypedDict):
    """A macvtap NIC of a VM: a second NIC directly on a node's L2 network, through that network's shared NAD."""

    network: pulumi.Input[str]
    """The platform network the NIC is on: a name in the platform's `networks` (e.g. `lan`)."""
    mac: NotRequired[pulumi.Input[str]]
    """A unicast MAC such as `02:00:00:00:00:01`; default: one derived from the stack, the VM and the interface, stable."""
    mtu: NotRequired[pulumi.Input[int]]
    """The NIC's MTU, 68 to 65535 and at most the network's; default: the lower device's."""
    promiscMode: NotRequired[pulumi.Input[bool]]
    """Promiscuous mode, e.g. to see LLDP frames. NICs with the same network, mtu and promiscMode share one NAD."""


def is_plain(value: Any) -> bool:
    """Is ``value`` known now, with nothing to wait for (no Output or awaitable anywhere in it)?"""
    if isinstance(value, pulumi.Output) or inspect.isawaitable(value):
        return False
    if isinstance(value, Mapping):
        return all(is_plain(item) for item in value.values())
    if isinstance(value, list | tuple):
        return all(is_plain(item) for item in value)
    return True


def own_depends_on(opts: pulumi.ResourceOptions | None) -> list[pulumi.Input[pulumi.Resource]]:
    """A component's own ``depends_on``, for its children: Pulumi does not pass it on to them (domain.md), and it is
    the only ordering another language can give a component (``dependsOn``)."""
    depends_on = opts.depends_on if opts is not None else None
    if depends_on is None:
        return []
    if isinstance(depends_on, Sequence):
        return list(depends_on)
    return [cast(pulumi.Input[pulumi.Resource], depends_on)]


def platform_networks(value: Any) -> tuple[dict[str, PlatformNetwork], list[tuple[str, str]]]:
    """A ``networks`` input in typed form, and its problems by property path (the export's own rules)."""
    networks, problems = read_platform_networks(value)
    return networks, [(path, message.lstrip()) for path, _, message in (problem.partition(":") for problem in problems)]


def refusal(component: str, name: str, problems: Sequence[tuple[str, str]]) -> Exception:
    """The exception that refuses ``problems`` (``(property path, reason)``) of component ``name``: see the module docstring."""
    public = [(path, reason) for path, reason in problems if not path.startswith(PASSWORD_INPUT)]
    private = [f"{path}: {reason}" for path, reason in problems if path.startswith(PASSWORD_INPUT)]
    if hosted():
        message = "; ".join(["invalid arguments", *private])
        return InputPropertiesError(message, [{"property_path": path, "reason": reason} for path, reason in public])
    lines = [f"{path}: {reason}" for path, reason in problems]
    return pulumi.RunError(f"invalid arguments of {component} {name!r}:\n  " + "\n  ".join(lines))
