"""The stacks this repository ships. Tests of shipped stacks name them here, never glob the working
tree, where a user keeps stacks of their own (``Pulumi.team-c.yaml``) and build output."""

from __future__ import annotations

from pathlib import Path

from offline.engine import PROJECT_ROOT

SHIPPED_STACKS = ("dev", "lab", "platform", "team-a", "team-b")


def shipped_stack_files() -> list[Path]:
    return [PROJECT_ROOT / f"Pulumi.{stack}.yaml" for stack in SHIPPED_STACKS]
