"""The kubelet's side of the device-plugin API on one node, played by the suite.

What it does follows the kubelet's device manager (kubernetes ``pkg/kubelet/cm/devicemanager``,
``plugin/v1beta1/server.go`` and ``client.go``, and ``manager.go``):

- it serves ``Registration.Register`` on ``kubelet.sock`` in the node's device-plugin directory;
  a plugin registers each resource with the name of its own socket there (its endpoint);
- for each registration it dials the endpoint, asks ``GetDevicePluginOptions`` and keeps one
  ``ListAndWatch`` stream open, whose latest list is the node's devices of that resource;
- the scheduler's part (``Insufficient <resource>``) and ``Allocate`` take healthy devices not
  yet allocated, one ``ContainerAllocateRequest`` per container with all its device IDs of the
  resource, as ``devicesToAllocate`` and ``allocateContainerResources`` do.

Nothing else of the kubelet (pods, cgroups, the PodResources API) is played.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from tests.dataplane import deviceplugin_api as api
from tests.dataplane.lan import Node


@dataclass(frozen=True)
class Device:
    id: str
    health: str


class InsufficientResourceError(Exception):
    """What the scheduler reports when no node has the devices a pod asks for."""


@dataclass
class ResourceEndpoint:
    """One registered resource: its plugin's socket and the devices its ListAndWatch reports."""

    resource: str
    endpoint: str
    channel: grpc.Channel
    options: Any = None
    devices: list[Device] = field(default_factory=list)
    updates: int = 0
    stream_error: str | None = None
    changed: threading.Condition = field(default_factory=threading.Condition)


class Kubelet:
    """Registration server and device manager of one node."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.socket = node.device_plugin_dir / api.KUBELET_SOCKET
        self.endpoints: dict[str, ResourceEndpoint] = {}
        self.allocated: dict[str, set[str]] = {}
        self.registered = threading.Condition()
        self.refused: list[str] = []
        self.plugin_log: Path | None = None  # quoted when the plugin does not answer in time
        self._server: grpc.Server | None = None
        self._lock = threading.Lock()

    # --- Registration service ------------------------------------------------------------

    def start(self) -> None:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        handler = grpc.method_handlers_generic_handler(
            "v1beta1.Registration",
            {
                "Register": grpc.unary_unary_rpc_method_handler(
                    self._register, request_deserializer=api.RegisterRequest.FromString, response_serializer=_serialize
                )
            },
        )
        server.add_generic_rpc_handlers([handler])
        server.add_insecure_port(f"unix:{self.socket}")
        server.start()
        self._server = server

    def _register(self, request: Any, context: grpc.ServicerContext) -> Any:
        # server.go validate(): a supported API version and an extended resource name.
        if request.version != api.VERSION:
            self.refused.append(f"{request.resource_name}: version {request.version}")
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unsupported version {request.version}")
        channel = grpc.insecure_channel(f"unix:{self.node.device_plugin_dir / request.endpoint}")
        endpoint = ResourceEndpoint(request.resource_name, request.endpoint, channel)
        with self._lock:
            previous = self.endpoints.get(request.resource_name)
            self.endpoints[request.resource_name] = endpoint
            self.allocated.setdefault(request.resource_name, set())
        if previous is not None:
            previous.channel.close()
        threading.Thread(target=self._watch, args=(endpoint,), daemon=True, name=f"listandwatch-{request.resource_name}").start()
        with self.registered:
            self.registered.notify_all()
        return api.Empty()

    def _watch(self, endpoint: ResourceEndpoint) -> None:
        """client.go Run(): options once, then every ListAndWatch response replaces the device list."""
        try:
            get_options = endpoint.channel.unary_unary(
                api.GET_DEVICE_PLUGIN_OPTIONS, request_serializer=_serialize, response_deserializer=api.DevicePluginOptions.FromString
            )
            endpoint.options = get_options(api.Empty(), timeout=10)
            stream = endpoint.channel.unary_stream(
                api.LIST_AND_WATCH, request_serializer=_serialize, response_deserializer=api.ListAndWatchResponse.FromString
            )
            for response in stream(api.Empty()):
                with endpoint.changed:
                    endpoint.devices = [Device(device.ID, device.health) for device in response.devices]
                    endpoint.updates += 1
                    endpoint.changed.notify_all()
        except grpc.RpcError as error:
            with endpoint.changed:
                endpoint.stream_error = f"{error.code().name}: {error.details()}"
                endpoint.changed.notify_all()

    # --- what the tests and the scheduler read -------------------------------------------

    def wait_for_registrations(self, resources: Sequence[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.registered:
            while not set(resources) <= set(self.endpoints):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"node {self.node.name}: the device plugin registered {sorted(self.endpoints) or 'nothing'}"
                        f" within {timeout:.0f} s, expected {sorted(resources)}"
                    )
                self.registered.wait(remaining)

    def wait_for_devices(self, resource: str, ready: Callable[[list[Device]], bool], timeout: float, what: str) -> list[Device]:
        """Block until ListAndWatch has sent a list that satisfies ``ready``."""
        endpoint = self.endpoints[resource]
        deadline = time.monotonic() + timeout
        with endpoint.changed:
            while endpoint.updates == 0 or not ready(endpoint.devices):
                remaining = deadline - time.monotonic()
                if endpoint.stream_error or remaining <= 0:
                    raise TimeoutError(
                        f"node {self.node.name}: {resource} did not report {what} within {timeout:.0f} s"
                        f" (last list: {len(endpoint.devices)} devices after {endpoint.updates} updates"
                        f"{'; stream ' + endpoint.stream_error if endpoint.stream_error else ''}){self._plugin_log_tail()}"
                    )
                endpoint.changed.wait(remaining)
            return list(endpoint.devices)

    def wait_for_count(self, resource: str, count: int, timeout: float = 20) -> list[Device]:
        return self.wait_for_devices(resource, lambda devices: len(devices) == count, timeout, f"{count} devices")

    def _plugin_log_tail(self) -> str:
        if self.plugin_log is None or not self.plugin_log.is_file():
            return ""
        return "\ndevice plugin log (last lines):\n" + "\n".join(self.plugin_log.read_text(errors="replace").splitlines()[-25:])

    def healthy(self, resource: str) -> list[str]:
        endpoint = self.endpoints.get(resource)
        return [d.id for d in endpoint.devices if d.health == api.HEALTHY] if endpoint else []

    def free(self, resource: str) -> list[str]:
        return [device for device in self.healthy(resource) if device not in self.allocated.get(resource, set())]

    # --- Allocate ------------------------------------------------------------------------

    def check_fits(self, resource: str, count: int) -> None:
        """The scheduler's resource fit: the pod does not go where ``count`` devices are not free."""
        free = self.free(resource)
        if len(free) < count:
            raise InsufficientResourceError(f"0/1 nodes are available: 1 Insufficient {resource} (node {self.node.name}: {len(free)} free)")

    def take(self, resource: str, count: int) -> list[str]:
        """devicesToAllocate: ``count`` free healthy devices, in the plugin's order."""
        self.check_fits(resource, count)
        chosen = self.free(resource)[:count]
        self.allocated.setdefault(resource, set()).update(chosen)
        return chosen

    def allocate(self, resource: str, device_ids: Sequence[str]) -> Any:
        """One ContainerAllocateRequest with ``device_ids``; the plugin's AllocateResponse."""
        allocate = self.endpoints[resource].channel.unary_unary(
            api.ALLOCATE, request_serializer=_serialize, response_deserializer=api.AllocateResponse.FromString
        )
        request = api.AllocateRequest(container_requests=[{"devices_ids": list(device_ids)}])
        return allocate(request, timeout=30)

    def release(self, resource: str, device_ids: Sequence[str]) -> None:
        """The pod is gone: its devices are free again (the kubelet's podDevices bookkeeping)."""
        self.allocated.get(resource, set()).difference_update(device_ids)

    def close(self) -> None:
        for endpoint in self.endpoints.values():
            endpoint.channel.close()
        if self._server is not None:
            self._server.stop(grace=None).wait(5)
            self._server = None


def _serialize(message: Any) -> bytes:
    data: bytes = message.SerializeToString()
    return data
