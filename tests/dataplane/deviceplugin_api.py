"""The kubelet device-plugin API v1beta1, the messages and services the suite needs, built at import.

Field names and numbers are those of ``k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1/api.proto``
(package ``v1beta1``): the public API through which the kubelet and a device plugin talk. They are
declared here as descriptors rather than generated code, so the suite needs only ``grpcio`` and
``protobuf``, which the Pulumi SDK already brings.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "v1beta1"
# constants.go of the same package.
VERSION = "v1beta1"
HEALTHY = "Healthy"
DEVICE_PLUGIN_PATH = "/var/lib/kubelet/device-plugins"
KUBELET_SOCKET = "kubelet.sock"

_STRING = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
_BOOL = descriptor_pb2.FieldDescriptorProto.TYPE_BOOL
_INT64 = descriptor_pb2.FieldDescriptorProto.TYPE_INT64
_INT32 = descriptor_pb2.FieldDescriptorProto.TYPE_INT32
_MESSAGE = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
_OPTIONAL = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
_REPEATED = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED

# message -> [(field, number, type, repeated, message type)]
_MESSAGES: dict[str, list[tuple[str, int, int, bool, str]]] = {
    "Empty": [],
    "DevicePluginOptions": [("pre_start_required", 1, _BOOL, False, ""), ("get_preferred_allocation_available", 2, _BOOL, False, "")],
    "RegisterRequest": [
        ("version", 1, _STRING, False, ""),
        ("endpoint", 2, _STRING, False, ""),
        ("resource_name", 3, _STRING, False, ""),
        ("options", 4, _MESSAGE, False, "DevicePluginOptions"),
    ],
    "NUMANode": [("ID", 1, _INT64, False, "")],
    "TopologyInfo": [("nodes", 1, _MESSAGE, True, "NUMANode")],
    "Device": [("ID", 1, _STRING, False, ""), ("health", 2, _STRING, False, ""), ("topology", 3, _MESSAGE, False, "TopologyInfo")],
    "ListAndWatchResponse": [("devices", 1, _MESSAGE, True, "Device")],
    "ContainerPreferredAllocationRequest": [
        ("available_deviceIDs", 1, _STRING, True, ""),
        ("must_include_deviceIDs", 2, _STRING, True, ""),
        ("allocation_size", 3, _INT32, False, ""),
    ],
    "PreferredAllocationRequest": [("container_requests", 1, _MESSAGE, True, "ContainerPreferredAllocationRequest")],
    "ContainerPreferredAllocationResponse": [("deviceIDs", 1, _STRING, True, "")],
    "PreferredAllocationResponse": [("container_responses", 1, _MESSAGE, True, "ContainerPreferredAllocationResponse")],
    "ContainerAllocateRequest": [("devices_ids", 1, _STRING, True, "")],
    "AllocateRequest": [("container_requests", 1, _MESSAGE, True, "ContainerAllocateRequest")],
    "Mount": [("container_path", 1, _STRING, False, ""), ("host_path", 2, _STRING, False, ""), ("read_only", 3, _BOOL, False, "")],
    "DeviceSpec": [("container_path", 1, _STRING, False, ""), ("host_path", 2, _STRING, False, ""), ("permissions", 3, _STRING, False, "")],
    # envs (1) and annotations (4) are map<string, string>: this suite reads only the devices.
    "ContainerAllocateResponse": [("mounts", 2, _MESSAGE, True, "Mount"), ("devices", 3, _MESSAGE, True, "DeviceSpec")],
    "AllocateResponse": [("container_responses", 1, _MESSAGE, True, "ContainerAllocateResponse")],
}


def _build() -> dict[str, Any]:
    file = descriptor_pb2.FileDescriptorProto(name="kvm_in_a_pod_deviceplugin_v1beta1.proto", package=PACKAGE, syntax="proto3")
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for field_name, number, kind, repeated, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=kind, label=_REPEATED if repeated else _OPTIONAL)
            if type_name:
                field.type_name = f".{PACKAGE}.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}")) for name in _MESSAGES}


MESSAGES = _build()
Empty = MESSAGES["Empty"]
RegisterRequest = MESSAGES["RegisterRequest"]
DevicePluginOptions = MESSAGES["DevicePluginOptions"]
ListAndWatchResponse = MESSAGES["ListAndWatchResponse"]
AllocateRequest = MESSAGES["AllocateRequest"]
AllocateResponse = MESSAGES["AllocateResponse"]

# Full gRPC method names: /<package>.<service>/<method>.
REGISTER = f"/{PACKAGE}.Registration/Register"
GET_DEVICE_PLUGIN_OPTIONS = f"/{PACKAGE}.DevicePlugin/GetDevicePluginOptions"
LIST_AND_WATCH = f"/{PACKAGE}.DevicePlugin/ListAndWatch"
ALLOCATE = f"/{PACKAGE}.DevicePlugin/Allocate"
