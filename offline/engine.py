"""The recording mock engine: run the real ``__main__.py`` under ``pulumi.runtime.set_mocks``.

One implementation serves the tests, the offline plan, the policy runs and the benchmarks.
``MockResourceArgs`` carries no parent or dependencies, so the monitor itself is subclassed
to record every ``RegisterResource`` request as the real engine would receive it
(domain.md, "Pulumi facts").
"""

from __future__ import annotations

import asyncio
import runpy
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks, _resolve_callbacks

# Re-exported: the recording engine is where the rest of the code takes the project's place from.
from components import node_probe
from offline.stack_config import PROJECT_NAME as PROJECT_NAME
from offline.stack_config import PROJECT_ROOT as PROJECT_ROOT
from offline.stack_config import StackConfigError as StackConfigError
from offline.stack_config import load_stack_config
from offline.stack_config import stack_file as stack_file

STACK_REFERENCE = "pulumi:pulumi:StackReference"

# How the Python SDK marks a secret value on the wire (pulumi.runtime.rpc).
SECRET_SIG_KEY = rpc._special_sig_key
SECRET_SIG_VALUE = rpc._special_secret_sig


def _plain_assets(value: Any) -> Any:
    """Assets as plain data (``{"fileAsset": path}``), so recordings compare across runs."""
    if isinstance(value, pulumi.FileAsset):
        return {"fileAsset": value.path}
    if isinstance(value, pulumi.StringAsset):
        return {"stringAsset": value.text}
    if isinstance(value, dict):
        return {key: _plain_assets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_assets(item) for item in value]
    return value


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG_VALUE


def unwrap_secrets(value: Any) -> Any:
    """The value with every secret wrapper replaced by its plain content."""
    if is_secret(value):
        return unwrap_secrets(value["value"])
    if isinstance(value, dict):
        return {key: unwrap_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(item) for item in value]
    return value


@dataclass(frozen=True)
class RecordedResource:
    """One ``RegisterResource`` request, as the engine would see it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str  # parent URN; "" for children of the stack
    dependencies: tuple[str, ...]  # URNs, explicit and implicit, in request order
    property_dependencies: Mapping[str, tuple[str, ...]]
    inputs: Mapping[str, Any]  # camelCase keys, numbers as floats, secrets still wrapped
    provider: str
    # The resource options that decide how the engine applies a change: the property paths
    # whose change forces a replacement, whether the old object goes first, and the paths
    # whose new value the engine replaces with the old one.
    replace_on_changes: tuple[str, ...] = ()
    delete_before_replace: bool = False
    ignore_changes: tuple[str, ...] = ()


@dataclass
class Recording:
    """Everything one run of the program registered, in registration order."""

    stack: str
    resources: list[RecordedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    # The `transforms` each resource was registered with, as the Python callables the
    # engine would call back (kept apart: functions do not compare across runs).
    transforms: dict[str, list[Callable[..., Any]]] = field(default_factory=dict)

    def by_urn(self, urn: str) -> RecordedResource:
        for resource in self.resources:
            if resource.urn == urn:
                return resource
        raise KeyError(urn)

    def of_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> RecordedResource:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]

    def children_of(self, urn: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.parent == urn]


class UnknownStackError(pulumi.RunError):
    """A StackReference to a stack the engine was given no outputs for."""


class _EchoMocks(Mocks):
    """Resources come back with their inputs as state, so outputs resolve as in an update.

    A ``pulumi:pulumi:StackReference`` is a read (its id is the stack name): it comes back with
    the outputs given for that name in ``stack_outputs``, in the state shape the engine's builtin
    provider returns (``name``, ``outputs``, ``secretOutputNames``; pulumi/pkg/resource/deploy/
    builtins.go, ``readStackReference``). A name with no outputs fails as the engine does for a
    stack that does not exist.
    """

    def __init__(self, stack_outputs: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.stack_outputs = dict(stack_outputs or {})

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if args.typ == STACK_REFERENCE:
            return args.resource_id, self._stack_reference_state(str(args.resource_id))
        return f"{args.name}-id", dict(args.inputs)

    def _stack_reference_state(self, stack: str) -> dict[str, Any]:
        if stack not in self.stack_outputs:
            known = ", ".join(sorted(self.stack_outputs)) or "none"
            raise UnknownStackError(f'unknown stack "{stack}" (the recording engine was given the outputs of: {known})')
        outputs = dict(self.stack_outputs[stack])
        return {"name": stack, "outputs": outputs, "secretOutputNames": sorted(k for k, v in outputs.items() if is_secret(v))}

    # MockMonitor.Invoke iterates the failures of a returned tuple, so a plain dict it is.
    def call(self, args: MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        return {}


class RecordingMonitor(MockMonitor):
    """A MockMonitor that also keeps what MockResourceArgs drops: parent and dependencies."""

    def __init__(self, recording: Recording, mocks: _EchoMocks | None = None) -> None:
        super().__init__(mocks or _EchoMocks())
        self.recording = recording
        self._stack_urn = ""

    def _record(
        self,
        request: Any,
        urn: str,
        inputs: Mapping[str, Any],
        *,
        custom: bool,
        property_dependencies: Mapping[str, tuple[str, ...]] | None = None,
        replace_on_changes: tuple[str, ...] = (),
        delete_before_replace: bool = False,
        ignore_changes: tuple[str, ...] = (),
    ) -> None:
        """Keep one request (a registration or a read) as the engine would see it."""
        self.recording.resources.append(
            RecordedResource(
                urn=urn,
                type=request.type,
                name=request.name,
                custom=custom,
                parent="" if request.parent == self._stack_urn else request.parent,
                dependencies=tuple(request.dependencies),
                property_dependencies=property_dependencies or {},
                inputs=inputs,
                provider=request.provider,
                replace_on_changes=replace_on_changes,
                delete_before_replace=delete_before_replace,
                ignore_changes=ignore_changes,
            )
        )

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        """A read (a StackReference) is recorded with the state it read, which is what policies see."""
        response = super().ReadResource(request)  # type: ignore[no-untyped-call]
        self._record(request, response.urn, rpc.deserialize_properties(response.properties, keep_unknowns=True), custom=True)
        return response

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == "pulumi:pulumi:Stack":
            self._stack_urn = response.urn
            return response
        self._record(
            request,
            response.urn,
            _plain_assets(rpc.deserialize_properties(request.object, keep_unknowns=True)),
            custom=bool(request.custom),
            property_dependencies={key: tuple(deps.urns) for key, deps in sorted(request.propertyDependencies.items())},
            replace_on_changes=tuple(request.replaceOnChanges),
            delete_before_replace=bool(request.deleteBeforeReplace),
            ignore_changes=tuple(request.ignoreChanges),
        )
        if request.transforms:
            self.recording.transforms[response.urn] = _resolve_callbacks(request.transforms)
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        if request.urn == self._stack_urn:
            self.recording.outputs = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


def record_program(
    config: Mapping[str, str],
    secret_keys: list[str] | tuple[str, ...] = (),
    *,
    stack: str = "test",
    project_dir: Path = PROJECT_ROOT,
    preview: bool = False,
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    into: Recording | None = None,
    node_prober: node_probe.Prober = node_probe.not_checked,
) -> Recording:
    """Run ``project_dir/__main__.py`` with ``config`` under the recording monitor.

    ``stack_outputs`` gives, per stack name as the program references it, the outputs a
    ``pulumi.StackReference`` reads (a `vms` stack's platform).
    Exceptions from the program (``pulumi.RunError`` for bad config) propagate unchanged,
    after the runtime has settled; what was registered so far is kept only in ``into``, when given.
    """
    return record_callable(
        lambda: _run_main(project_dir),
        config,
        secret_keys,
        stack=stack,
        preview=preview,
        stack_outputs=stack_outputs,
        into=into,
        node_prober=node_prober,
    )


def record_callable(
    program: Callable[[], None],
    config: Mapping[str, str],
    secret_keys: list[str] | tuple[str, ...] = (),
    *,
    stack: str = "test",
    preview: bool = False,
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    into: Recording | None = None,
    node_prober: node_probe.Prober = node_probe.not_checked,
) -> Recording:
    """Run ``program`` as a Pulumi program, with ``config``, under the recording monitor.

    ``record_program`` runs ``__main__.py`` through it; the benchmarks run a replay of a
    recording through it, so both are measured under the same engine. ``into`` receives the
    registrations as they happen, so a caller can see how far a failing program got. No node is
    contacted: ``node_prober`` stands for the ssh-mode look at the nodes (``components.node_probe``).
    """
    recording = into if into is not None else Recording(stack=stack)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # The SDK calls the monitor from the loop's default executor, and MockMonitor's methods call
    # pulumi.runtime.sync_await._ensure_event_loop() there, which gives each worker thread a loop
    # of its own and never closes it. Collected later in one cycle with its self-pipe socket, such
    # a loop printed "Exception ignored in BaseEventLoop.__del__ ... Invalid file descriptor: -1"
    # (a PytestUnraisableExceptionWarning in make test). So the workers get loops made, and closed, here.
    worker_loops: list[asyncio.AbstractEventLoop] = []
    executor = ThreadPoolExecutor(thread_name_prefix="recording", initializer=_give_worker_a_loop, initargs=(worker_loops,))
    loop.set_default_executor(executor)
    try:
        pulumi.runtime.set_all_config(dict(config), list(secret_keys))
        mocks = _EchoMocks(stack_outputs)
        pulumi.runtime.set_mocks(
            mocks,
            project=PROJECT_NAME,
            stack=stack,
            preview=preview,
            monitor=RecordingMonitor(recording, mocks),
        )
        # MockSettings keeps the previous run's pending outputs; after a failed run they are tasks
        # of its closed event loop, which this run's wait for outputs would trip over.
        pulumi.runtime.settings.SETTINGS.outputs = set()
        # set_mocks leaves a finished root Stack behind; the program gets a fresh one from
        # run_in_stack, as under the real language host, so that its exports are recorded.
        pulumi.runtime.settings.ROOT.set(None)
        with node_probe.using(node_prober):
            loop.run_until_complete(pulumi.runtime.run_in_stack(program))
    except BaseException as failure:
        # The error the program failed with also sits in every output future that depended on
        # it; it is raised here, so asyncio need not report it again when they are collected.
        loop.set_exception_handler(_not_again(failure))
        _cancel_pending(loop)
        raise
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        executor.shutdown(wait=True)
        for worker_loop in worker_loops:
            worker_loop.close()
        pulumi.runtime.set_all_config({}, [])
    return recording


def _give_worker_a_loop(loops: list[asyncio.AbstractEventLoop]) -> None:
    """Executor initializer: the worker thread's event loop, kept so that the recording closes it."""
    worker_loop = asyncio.new_event_loop()
    asyncio.set_event_loop(worker_loop)
    loops.append(worker_loop)


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what a failed program left waiting (Outputs of an argument check that refused), and let it end.

    Closed with them pending, the loop left tasks that asyncio reported, when they were collected,
    as "Task was destroyed but it is pending!" (seen after a component's refusal in tests/test_component_api.py).
    """
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


def _not_again(failure: BaseException) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("exception") is not failure:
            loop.default_exception_handler(context)

    return handle


def _run_main(project_dir: Path) -> None:
    added = str(project_dir) not in sys.path
    if added:
        sys.path.insert(0, str(project_dir))
    try:
        runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")
    finally:
        if added:
            sys.path.remove(str(project_dir))


def record_stack(
    stack: str,
    *,
    project_dir: Path = PROJECT_ROOT,
    config_overrides: Mapping[str, Any] | None = None,
    secret_values: Mapping[str, str] | None = None,
    preview: bool = False,
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    into: Recording | None = None,
    node_prober: node_probe.Prober = node_probe.not_checked,
) -> Recording:
    """Record a real stack file, optionally with some keys replaced (``key -> value``).

    ``config_overrides`` keys are full config keys (``kvm-in-a-pod:vms``); a value of
    ``None`` removes the key; structured values are JSON-encoded as the CLI would. Raises
    ``StackConfigError`` where the CLI would refuse the result before running the program.
    """
    config, secret_keys = load_stack_config(stack, project_dir, secret_values, config_overrides)
    return record_program(
        config,
        secret_keys,
        stack=stack,
        project_dir=project_dir,
        preview=preview,
        stack_outputs=stack_outputs,
        into=into,
        node_prober=node_prober,
    )
