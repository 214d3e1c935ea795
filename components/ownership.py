"""Objects this program applies are its own: a hand edit of a field it sets is undone by the next update.

The kubernetes provider applies server-side. A field someone changed by hand (``kubectl edit``,
``kubectl patch``) then belongs to that field manager, and the next apply of our value fails with
"Server-Side Apply field conflict" (found by ``make e2e``: a NAD edited by hand made every later
``pulumi up --refresh`` fail). ``pulumi.com/patchForce: "true"`` makes the provider apply with
force (pulumi-kubernetes ``pkg/await/await.go`` patchForce), so the field comes back to our value
and to our field manager; fields we do not set stay whoever's they are.

VMIs go through a client-side-apply provider (``vmi_provider.py``), where the annotation does
nothing, so they do not carry it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PATCH_FORCE = "pulumi.com/patchForce"


def owned(metadata: Mapping[str, Any]) -> Any:
    """``metadata`` with the annotation that makes the provider take our fields back.

    Plain JSON-shaped data, which the SDK accepts wherever it takes ``ObjectMetaArgs``.
    """
    return {**metadata, "annotations": {**metadata.get("annotations", {}), PATCH_FORCE: "true"}}
