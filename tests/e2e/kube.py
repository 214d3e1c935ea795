"""A small Kubernetes API client over HTTPS with a client certificate (standard library only).

The suite needs a handful of verbs (get, list, create, patch, delete) against the test API
server; kubectl is not among the tools, and a client library would be one more dependency.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ApiError(Exception):
    def __init__(self, status: int, body: str, url: str) -> None:
        self.status = status
        self.body = body
        super().__init__(f"{status} from {url}: {body[:500]}")


@dataclass(frozen=True)
class Credentials:
    server: str  # https://127.0.0.1:PORT
    ca_file: Path
    cert_file: Path
    key_file: Path


# group/version/plural for the kinds the suite reads.
RESOURCES = {
    "Namespace": ("", "v1", "namespaces", False),
    "ConfigMap": ("", "v1", "configmaps", True),
    "ServiceAccount": ("", "v1", "serviceaccounts", True),
    "DaemonSet": ("apps", "v1", "daemonsets", True),
    "ClusterRole": ("rbac.authorization.k8s.io", "v1", "clusterroles", False),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", False),
    "CustomResourceDefinition": ("apiextensions.k8s.io", "v1", "customresourcedefinitions", False),
    "NetworkAttachmentDefinition": ("k8s.cni.cncf.io", "v1", "network-attachment-definitions", True),
    "KubeVirt": ("kubevirt.io", "v1", "kubevirts", True),
    "VirtualMachineInstance": ("kubevirt.io", "v1", "virtualmachineinstances", True),
    "VirtualMachine": ("kubevirt.io", "v1", "virtualmachines", True),
    "ValidatingAdmissionPolicy": ("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", False),
    "ValidatingAdmissionPolicyBinding": ("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings", False),
}


def collection_path(kind: str, namespace: str | None = None) -> str:
    group, version, plural, namespaced = RESOURCES[kind]
    base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    if namespaced and namespace:
        return f"{base}/namespaces/{namespace}/{plural}"
    return f"{base}/{plural}"


class Kube:
    def __init__(self, credentials: Credentials, timeout: float = 15) -> None:
        self.credentials = credentials
        self.timeout = timeout
        self._context = ssl.create_default_context(cafile=str(credentials.ca_file))
        self._context.load_cert_chain(str(credentials.cert_file), str(credentials.key_file))

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        url = self.credentials.server + path
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": content_type, "Accept": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            raise ApiError(error.code, error.read().decode("utf-8", "replace"), url) from None
        if not payload:
            return None
        try:
            return json.loads(payload)
        except json.JSONDecodeError:  # /readyz and friends answer plain text
            return payload.decode("utf-8", "replace")

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self.request("GET", f"{collection_path(kind, namespace)}/{name}")
            return result
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def list(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        try:
            result = self.request("GET", collection_path(kind, namespace))
        except ApiError as error:
            if error.status == 404:  # the CRD is not there
                return []
            raise
        items: list[dict[str, Any]] = result.get("items", [])
        return items

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        namespace = manifest.get("metadata", {}).get("namespace")
        result: dict[str, Any] = self.request("POST", collection_path(manifest["kind"], namespace), manifest)
        return result

    def merge_patch(self, kind: str, name: str, patch: dict[str, Any], namespace: str | None = None, subresource: str = "") -> Any:
        suffix = f"/{subresource}" if subresource else ""
        return self.request("PATCH", f"{collection_path(kind, namespace)}/{name}{suffix}", patch, "application/merge-patch+json")

    def delete(self, kind: str, name: str, namespace: str | None = None) -> None:
        try:
            self.request("DELETE", f"{collection_path(kind, namespace)}/{name}")
        except ApiError as error:
            if error.status != 404:
                raise
