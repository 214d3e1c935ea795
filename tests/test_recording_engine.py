"""Claims about the recording engine itself (offline/engine.py), which the tests, the plan and the benchmarks share.

- A recording leaves no event loop open behind it: the loops of the executor threads the SDK calls
  the monitor from are closed when ``record_program`` returns (an open one, collected later,
  printed "Exception ignored in BaseEventLoop.__del__ ... Invalid file descriptor: -1").
- The same config registers identical inputs twice, with the worker loops now the engine's
  (determinism, on which the plan's byte-identical files rest).
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from pulumi.runtime.mocks import MockResourceArgs

from offline import engine
from offline.engine import record_stack


def test_a_recording_closes_the_event_loops_of_its_worker_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[int, asyncio.AbstractEventLoop] = {}
    new_resource = engine._EchoMocks.new_resource

    def spy(self: engine._EchoMocks, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        # Called by MockMonitor.RegisterResource in an executor thread, after it ensured the thread a loop.
        seen[threading.get_ident()] = asyncio.get_event_loop()
        return new_resource(self, args)

    monkeypatch.setattr(engine._EchoMocks, "new_resource", spy)
    record_stack("dev")
    assert seen, "no resource was registered from a worker thread"
    assert {ident: loop.is_closed() for ident, loop in seen.items()} == dict.fromkeys(seen, True)


def test_the_same_config_registers_identical_inputs_twice() -> None:
    # Registration order is the SDK's (its threads race); the registered inputs are not.
    first, second = record_stack("dev"), record_stack("dev")
    assert sorted((r.urn, json.dumps(r.inputs, sort_keys=True)) for r in first.resources) == sorted(
        (r.urn, json.dumps(r.inputs, sort_keys=True)) for r in second.resources
    )
