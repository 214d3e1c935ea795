"""Plain data out of the analyzer's proxies, unknown values, policy knobs and Kubernetes quantities.

Under ``pulumi preview`` some values are not known yet. The analyzer hands policies
unknown-checking proxies that raise ``UnknownValueError`` on access (pulumi_policy/proxy.py),
which would abort a whole policy; every policy therefore first turns the props into plain
data with ``plain()``, where unknowns become ``UNKNOWN``, and skips a check whose input is
``UNKNOWN`` instead of failing it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from pulumi_policy import PolicyConfigSchema
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)


class Unknown:
    """A value the engine does not know yet (preview)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = Unknown()

_UNKNOWN_SENTINELS: Final = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,  # also pulumi.runtime.rpc.UNKNOWN, as recorded under mocks
    }
)


def plain(value: Any) -> Any:
    """``value`` as plain dicts and lists: proxies read out, unknowns ``UNKNOWN``.

    Secrets need no unwrapping: the analyzer deserializes them to their plain values.
    """
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in list(value):
            try:
                out[key] = plain(value[key])
            except UnknownValueError:
                out[key] = UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value


def at(value: Any, *path: str) -> Any:
    """``value[path[0]][path[1]]...``: ``None`` where a step is missing, ``UNKNOWN`` where one is unknown."""
    for key in path:
        if value is UNKNOWN:
            return UNKNOWN
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def knob(config: Mapping[str, Any], schema: PolicyConfigSchema, key: str) -> Any:
    """A config knob: the configured value, else the schema default (the CLI fills defaults in too)."""
    if key in config:
        return config[key]
    return schema.properties[key]["default"]


def int_knob(config: Mapping[str, Any], schema: PolicyConfigSchema, key: str) -> int:
    # Policy config crosses the wire as a protobuf Struct: integers arrive as floats.
    return int(knob(config, schema, key))


def whole_number(value: Any) -> int | None:
    """An integral number as int (JSON and protobuf give floats); anything else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


# --- Kubernetes quantities ----------------------------------------------------------------

# k8s.io/apimachinery resource.Quantity: binary suffixes Ki..Ei (powers of 1024), decimal
# n u m k M G T P E (powers of 1000), or a decimal exponent. Also the knob's JSON-schema pattern.
QUANTITY_PATTERN: Final = r"^\+?([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][-+]?[0-9]+)?$"
_QUANTITY = re.compile(QUANTITY_PATTERN)
_BINARY_SUFFIXES: Final = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_SUFFIXES: Final = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def parse_quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity ("1024M", "1Gi", "1.5G", "1e9", 1073741824) in base units; None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value)) if value >= 0 else None
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value)
    if match is None:
        return None
    number, suffix = Decimal(match[1]), match[2] or ""
    if suffix in _BINARY_SUFFIXES:
        return number * Decimal(1024) ** _BINARY_SUFFIXES[suffix]
    if suffix in _DECIMAL_SUFFIXES:
        return number * Decimal(10) ** _DECIMAL_SUFFIXES[suffix]
    if suffix:
        return number * Decimal(10) ** int(suffix[1:])
    return number
