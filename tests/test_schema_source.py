"""Claims a user checks about where the offline plan gets upstream schemas and manifests.

A user in a fresh clone (no ../shared beside it) runs ``make plan``:

- With upstream reachable (here: a mirror on 127.0.0.1 standing in for it, ``--mirror``), the
  plan downloads KubeVirt's swagger at the stack's ``kubevirt.version`` and Multus's thick
  manifest at ``multus.version``, caches them under ``$XDG_CACHE_HOME/kvm-in-a-pod/upstream``
  named by version, and validates every KubeVirt object and NAD of dev and lab against them
  with 0 errors. The Multus manifest's own objects are rendered (image pinned by the program's
  real transform) and validated too; so is the operator manifest when it can be had.
- A second run is served from the cache: the server sees no request and the plan's files are
  byte-identical.
- ``--offline`` never touches the network, even with ``--mirror``: exit 0, and every KubeVirt
  object and NAD says "not validated: offline, no cached schema for KubeVirt v1.9.0 (use
  --schemas DIR)" (Multus v4.3.0 for NADs); no traceback.
- ``--schemas DIR`` uses the directory's files: no schema is downloaded.
- The version asked for is the stack's: another ``kubevirt.version`` is another URL and file.
- Each bad download says what went wrong, naming the URL, and caches nothing (no file, no temp
  file): HTTP 404, a file truncated on the mirror, a connection cut before the declared length,
  a server that never answers (abandoned after the timeout), a file that is not the schema.
  The plan still exits 0 with the objects "not validated", naming the reason.
- A cached file that no longer passes the check is not used; a cache that cannot be written
  does not stop the plan from using what it downloaded.
- A remote manifest at a custom URL is not fetched, and the plan says so.
- The URLs are upstream's (the ones the program applies), and ``--mirror`` keeps their paths.

The real upstream hosts cannot be reached from this machine: no test downloads from them.
Upstream's swagger and Multus manifest, which the mirror serves, come from ../shared or the user's
cache (tests/upstream.py, a download if need be); without either the tests skip, naming the file
and the command that caches it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from components.config import KubeVirtConfig, MultusConfig
from offline.schema_source import (
    KIND_SOURCES,
    KUBEVIRT_OPERATOR,
    KUBEVIRT_SWAGGER,
    MULTUS_MANIFEST,
    Artifact,
    FetchPolicy,
    default_cache_dir,
    obtain,
)
from tests import upstream
from tests.conftest import stack_value
from tests.plan_runs import run_plan


def swagger_bytes() -> bytes:
    """Upstream's v1.9.0 swagger, from ../shared or the user's cache (tests/upstream.py), or skip saying how to get it."""
    return upstream.required(*upstream.SWAGGER).read_bytes()


def multus_bytes() -> bytes:
    """Upstream's v4.3.0 thick-plugin manifest, got the same way."""
    return upstream.required(*upstream.MULTUS).read_bytes()


def path_of(artifact: Artifact, version: str) -> str:
    return urlsplit(artifact.upstream_url(version)).path


SWAGGER_PATH = path_of(KUBEVIRT_SWAGGER, "v1.9.0")
MULTUS_PATH = path_of(MULTUS_MANIFEST, "v4.3.0")
OPERATOR_PATH = path_of(KUBEVIRT_OPERATOR, "v1.9.0")


# --- a mirror on 127.0.0.1 ----------------------------------------------------------------


@dataclass
class Route:
    body: bytes
    cut_after: int | None = None  # declare the full length, send this many bytes, close
    hang: bool = False  # accept the request and never answer


@dataclass
class Mirror:
    """An HTTP server on 127.0.0.1 serving ``routes`` (404 otherwise), recording every path asked for."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    url: str = ""
    released: threading.Event = field(default_factory=threading.Event)


def _handler(mirror: Mirror) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            mirror.requests.append(self.path)
            route = mirror.routes.get(self.path)
            if route is None:
                self.send_error(404, "Not Found")
                return
            if route.hang:
                mirror.released.wait(60)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body if route.cut_after is None else route.body[: route.cut_after])

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    served = Mirror()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    server.daemon_threads = True
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served
    served.released.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def upstream_files(mirror: Mirror) -> Mirror:
    """The mirror serving upstream's swagger (v1.9.0) and Multus manifest (v4.3.0), got as tests/upstream.py gets them."""
    mirror.routes[SWAGGER_PATH] = Route(swagger_bytes())
    mirror.routes[MULTUS_PATH] = Route(multus_bytes())
    return mirror


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache for this test: ``$XDG_CACHE_HOME/kvm-in-a-pod/upstream``."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return default_cache_dir()


def cached_files(cache: Path) -> list[str]:
    """Every file under the cache, temp files included."""
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file()) if cache.exists() else []


# --- running the plan ---------------------------------------------------------------------


@pytest.fixture
def lab_set(fake_cni_binary: Path) -> str:
    macvtap = stack_value("lab", "macvtap")
    macvtap["cniBinaryPath"] = str(fake_cni_binary)
    return f"kvm-in-a-pod:macvtap={json.dumps(macvtap)}"


KUBEVIRT_KINDS_AND_NADS = ("KubeVirt", "VirtualMachineInstance", "NetworkAttachmentDefinition")


# --- downloads, then the cache --------------------------------------------------------------


def test_first_run_downloads_validates_and_caches_by_version(upstream_files: Mirror, cache: Path, tmp_path: Path) -> None:
    run = run_plan(tmp_path / "dev", "dev", "--mirror", upstream_files.url)
    assert run.code == 0, run.stderr
    assert run.stderr == ""
    assert sorted(upstream_files.requests) == sorted([SWAGGER_PATH, MULTUS_PATH, OPERATOR_PATH])
    assert cached_files(cache) == ["kubevirt-v1.9.0-swagger.json", "multus-v4.3.0-daemonset-thick.yml"]
    assert (cache / "kubevirt-v1.9.0-swagger.json").read_bytes() == swagger_bytes()
    assert f"upstream kubevirt-v1.9.0-swagger.json: downloaded from {upstream_files.url}{SWAGGER_PATH}" in run.stdout
    statuses = run.statuses()
    for (kind, name), (status, _) in statuses.items():
        if kind in KUBEVIRT_KINDS_AND_NADS:
            assert status == "valid", (kind, name)
    report = json.loads(run.read("schema-report.json"))
    assert report["schemas"][1:] == ["kubevirt-v1.9.0-swagger.json", "multus-v4.3.0-daemonset-thick.yml"]


def test_second_run_is_served_from_the_cache_byte_identically(upstream_files: Mirror, cache: Path, tmp_path: Path) -> None:
    first = run_plan(tmp_path / "first", "dev", "--mirror", upstream_files.url)
    asked = len(upstream_files.requests)
    second = run_plan(tmp_path / "second", "dev", "--mirror", upstream_files.url)
    assert second.code == 0, second.stderr
    # Only the operator manifest, which the mirror lacks (and so was never cached), is asked again.
    assert upstream_files.requests[asked:] == [OPERATOR_PATH]
    assert "upstream kubevirt-v1.9.0-swagger.json: from the cache" in second.stdout
    assert "upstream multus-v4.3.0-daemonset-thick.yml: from the cache" in second.stdout
    assert second.tree() == first.tree()


@pytest.mark.parametrize("stack", ["dev", "lab"])
def test_every_object_of_the_stacks_validates_with_upstream_files(
    stack: str, upstream_files: Mirror, cache: Path, tmp_path: Path, lab_set: str
) -> None:
    extra = ["--set", lab_set] if stack == "lab" else []
    run = run_plan(tmp_path / stack, stack, "--mirror", upstream_files.url, *extra)
    assert run.code == 0, run.stderr
    not_validated = {key: reason for key, (status, reason) in run.statuses().items() if status != "valid"}
    # The mirror holds no operator manifest: ../shared has no copy of upstream's release file.
    assert not_validated == {("ConfigFile", "kubevirt-operator"): f"not validated: {upstream_files.url}{OPERATOR_PATH}: HTTP 404 Not Found"}
    assert " 0 errors in 0 objects, 1 not validated" in run.stdout


def test_objects_are_checked_against_the_downloaded_schema(upstream_files: Mirror, cache: Path, tmp_path: Path) -> None:
    # A swagger that also requires spec.bogusField of a VMI: only a check that really uses the
    # downloaded file can report it.
    swagger = json.loads(swagger_bytes())
    swagger["definitions"]["v1.VirtualMachineInstanceSpec"].setdefault("required", []).append("bogusField")
    upstream_files.routes[SWAGGER_PATH] = Route(json.dumps(swagger).encode())
    run = run_plan(tmp_path / "dev", "dev", "--mirror", upstream_files.url)
    assert run.code == 1
    assert run.stderr.splitlines() == [
        f"schema error: manifests/{number}-virtualmachineinstance-default-{vm}.yaml (VirtualMachineInstance default/{vm}): "
        "spec.bogusField: required field is missing"
        for number, vm in (("009", "vm1"), ("010", "vm2"))
    ]
    vmi = json.loads(run.read("schema-report.json"))["objects"][-1]
    assert vmi["schema"] == "kubevirt-v1.9.0-swagger.json#/definitions/v1.VirtualMachineInstance"


def test_the_multus_manifest_objects_are_rendered_with_the_pinned_image_and_validated(
    upstream_files: Mirror, cache: Path, tmp_path: Path
) -> None:
    run = run_plan(tmp_path / "dev", "dev", "--mirror", upstream_files.url)
    text = run.read("manifests/007-remote-multus-manifest.yaml")
    objects = [o for o in yaml.safe_load_all(text) if o]
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("CustomResourceDefinition", "network-attachment-definitions.k8s.cni.cncf.io"),
        ("ClusterRole", "multus"),
        ("ClusterRoleBinding", "multus"),
        ("ServiceAccount", "multus"),
        ("ConfigMap", "multus-daemon-config"),
        ("DaemonSet", "kube-multus-ds"),
    ]
    pod = objects[-1]["spec"]["template"]["spec"]
    images = {c["image"] for c in [*pod["containers"], *pod.get("initContainers", [])]}
    assert images == {"ghcr.io/k8snetworkplumbingwg/multus-cni:v4.3.0-thick"}
    assert b"snapshot-thick" in multus_bytes()  # what the transform had to pin
    assert (
        "  manifests/007-remote-multus-manifest.yaml: transform Multus.__init__.<locals>.pin_images rewrote the DaemonSet container"
        " image ghcr.io/k8snetworkplumbingwg/multus-cni:snapshot-thick (what upstream's manifest names) to"
        " ghcr.io/k8snetworkplumbingwg/multus-cni:v4.3.0-thick\n"
    ) in run.stdout
    assert text.startswith(
        "# 007 multus-manifest (kubernetes:yaml/v2:ConfigFile)\n"
        f"# A remote manifest, applied by the Kubernetes provider from {MULTUS_MANIFEST.upstream_url('v4.3.0')} at deploy time.\n"
    )
    assert run.statuses()[("DaemonSet", "kube-multus-ds")][0] == "valid"


# A small operator manifest of our own: ../shared has no copy of upstream's release file, so
# this only exercises the plan's path for it (fetch, check, render, validate), not its content.
OPERATOR_STAND_IN = """\
apiVersion: v1
kind: Namespace
metadata: {name: kubevirt}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: kubevirts.kubevirt.io}
spec:
  group: kubevirt.io
  names: {kind: KubeVirt, plural: kubevirts, singular: kubevirt}
  scope: Namespaced
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
"""


def test_an_operator_manifest_that_can_be_had_is_rendered_and_its_objects_validated(mirror: Mirror, cache: Path, tmp_path: Path) -> None:
    mirror.routes[OPERATOR_PATH] = Route(OPERATOR_STAND_IN.encode())
    run = run_plan(tmp_path / "dev", "dev", "--mirror", mirror.url)
    assert run.code == 0, run.stderr
    statuses = run.statuses()
    assert statuses[("Namespace", "kubevirt")] == ("valid", "")
    assert statuses[("CustomResourceDefinition", "kubevirts.kubevirt.io")] == ("valid", "")
    assert "manifests/001-remote-kubevirt-operator.yaml" in [name for name in run.tree() if name.startswith("manifests/001")]
    assert cached_files(cache) == ["kubevirt-v1.9.0-operator.yaml"]


def test_the_stacks_kubevirt_version_is_the_one_asked_for(upstream_files: Mirror, cache: Path, tmp_path: Path) -> None:
    kubevirt = {**stack_value("dev", "kubevirt"), "version": "v1.8.4"}
    run = run_plan(tmp_path / "dev", "dev", "--mirror", upstream_files.url, "--set", f"kvm-in-a-pod:kubevirt={json.dumps(kubevirt)}")
    assert run.code == 0, run.stderr
    wanted = path_of(KUBEVIRT_SWAGGER, "v1.8.4")
    assert wanted in upstream_files.requests
    assert SWAGGER_PATH not in upstream_files.requests
    assert run.statuses()[("VirtualMachineInstance", "vm1")] == (
        "not validated",
        f"not validated: no schema for KubeVirt v1.8.4: {upstream_files.url}{wanted}: HTTP 404 Not Found"
        " (use --schemas DIR or --mirror URL)",
    )
    assert cached_files(cache) == ["multus-v4.3.0-daemonset-thick.yml"]


# --- offline, --schemas ---------------------------------------------------------------------


def test_offline_never_touches_the_network_and_says_why_per_object(mirror: Mirror, cache: Path, tmp_path: Path) -> None:
    run = run_plan(tmp_path / "dev", "dev", "--offline", "--mirror", mirror.url)
    assert run.code == 0
    assert run.stderr == ""
    assert mirror.requests == []
    assert "Traceback" not in run.stdout
    statuses = run.statuses()
    assert statuses[("VirtualMachineInstance", "vm1")] == (
        "not validated",
        "not validated: offline, no cached schema for KubeVirt v1.9.0 (use --schemas DIR)",
    )
    assert statuses[("KubeVirt", "kubevirt")][1] == statuses[("VirtualMachineInstance", "vm1")][1]
    assert statuses[("NetworkAttachmentDefinition", "dataplane")] == (
        "not validated",
        "not validated: offline, no cached schema for Multus v4.3.0 (use --schemas DIR)",
    )
    assert statuses[("ConfigFile", "multus-manifest")] == (
        "not validated",
        "not validated: offline, no cached Multus v4.3.0 thick-plugin manifest",
    )
    assert "schemas: 4 validated, 0 errors in 0 objects, 6 not validated" in run.stdout
    assert "upstream kubevirt-v1.9.0-swagger.json: not available: offline, no cached KubeVirt v1.9.0 swagger" in run.stdout
    assert cached_files(cache) == []


def test_offline_uses_what_an_earlier_run_cached(upstream_files: Mirror, cache: Path, tmp_path: Path) -> None:
    online = run_plan(tmp_path / "online", "dev", "--mirror", upstream_files.url)
    asked = len(upstream_files.requests)
    offline = run_plan(tmp_path / "offline", "dev", "--offline")
    assert len(upstream_files.requests) == asked
    assert offline.code == 0, offline.stderr
    assert offline.statuses()[("VirtualMachineInstance", "vm1")][0] == "valid"
    # The operator manifest, never cached, is the one difference: why it is missing.
    operator = offline.statuses()[("ConfigFile", "kubevirt-operator")]
    assert operator[1] == "not validated: offline, no cached KubeVirt v1.9.0 operator manifest"

    def without_operator(tree: dict[str, bytes]) -> dict[str, bytes]:
        return {name: text for name, text in tree.items() if "kubevirt-operator" not in name and "schema-report" not in name}

    assert without_operator(offline.tree()) == without_operator(online.tree())


def test_schemas_dir_is_used_instead_of_downloading_schemas(mirror: Mirror, cache: Path, tmp_path: Path) -> None:
    run = run_plan(tmp_path / "dev", "dev", "--schemas", upstream.schemas_or_skip(), "--mirror", mirror.url)
    assert run.code == 0, run.stderr
    assert SWAGGER_PATH not in mirror.requests
    assert run.statuses()[("VirtualMachineInstance", "vm1")] == ("valid", "")


@pytest.mark.parametrize(
    ("mirror", "message"),
    [
        ("ftp://mirror.example", "--mirror: 'ftp://mirror.example': expected an http(s) URL such as http://mirror.example:8080"),
        ("mirror.example", "--mirror: 'mirror.example': expected an http(s) URL such as http://mirror.example:8080"),
        ("https://me:hunter22@mirror.example", "--mirror: credentials in the URL are not supported (they would be shown in the plan's"),
    ],
)
def test_a_mirror_that_is_not_a_plain_http_url_is_a_usage_error(mirror: str, message: str, tmp_path: Path) -> None:
    run = run_plan(tmp_path / "dev", "dev", "--mirror", mirror)
    assert run.code == 2
    assert run.stderr.startswith(f"error: {message}")
    assert "hunter22" not in run.stderr
    assert not run.out.exists()


# --- bad downloads: a clear message, nothing cached -----------------------------------------

SWAGGER_BODY = json.dumps(
    {"swagger": "2.0", "paths": {}, "definitions": {source.definition: {"type": "object"} for source in KIND_SOURCES.values()}}
).encode()


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (None, "HTTP 404 Not Found"),
        (Route(SWAGGER_BODY[:100]), "not JSON (Unterminated string"),
        (Route(SWAGGER_BODY, cut_after=100), f"truncated: got 100 of {len(SWAGGER_BODY)} bytes"),
        (Route(b"", hang=True), "no answer within 1 s"),
        (Route(b"<html>captive portal</html>"), "not JSON (Expecting value"),
        (
            Route(json.dumps({"swagger": "2.0", "paths": {}, "definitions": {"v1.Other": {}}}).encode()),
            "not KubeVirt's API schema: no definition v1.KubeVirt, v1.VirtualMachineInstance, v1.VirtualMachine",
        ),
    ],
    ids=["404", "truncated-file", "connection-cut", "never-answers", "html", "not-kubevirt"],
)
def test_a_bad_swagger_download_says_why_and_caches_nothing(route: Route | None, message: str, mirror: Mirror, tmp_path: Path) -> None:
    if route is not None:
        mirror.routes[SWAGGER_PATH] = route
    policy = FetchPolicy(tmp_path / "cache", mirror=mirror.url, timeout=1.0)
    got = obtain(KUBEVIRT_SWAGGER, "v1.9.0", policy)
    assert got.content is None
    assert got.problem.startswith(f"{mirror.url}{SWAGGER_PATH}: {message}")
    assert cached_files(tmp_path / "cache") == []


def test_a_good_swagger_download_is_cached_atomically_under_its_version(mirror: Mirror, tmp_path: Path) -> None:
    mirror.routes[SWAGGER_PATH] = Route(SWAGGER_BODY)
    got = obtain(KUBEVIRT_SWAGGER, "v1.9.0", FetchPolicy(tmp_path / "cache", mirror=mirror.url))
    assert got.content == SWAGGER_BODY
    assert got.origin == f"{mirror.url}{SWAGGER_PATH}"
    assert cached_files(tmp_path / "cache") == ["kubevirt-v1.9.0-swagger.json"]  # no temp file left


def test_a_cache_that_cannot_be_written_still_gives_the_download(mirror: Mirror, tmp_path: Path) -> None:
    mirror.routes[SWAGGER_PATH] = Route(SWAGGER_BODY)
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the cache directory would be\n")
    got = obtain(KUBEVIRT_SWAGGER, "v1.9.0", FetchPolicy(blocked / "cache", mirror=mirror.url))
    assert got.content == SWAGGER_BODY
    assert got.note.startswith("not cached: ")
    assert got.describe().endswith(f"downloaded from {mirror.url}{SWAGGER_PATH} ({got.note})")


def test_a_multus_manifest_without_the_nad_crd_is_refused(mirror: Mirror, tmp_path: Path) -> None:
    mirror.routes[MULTUS_PATH] = Route(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    got = obtain(MULTUS_MANIFEST, "v4.3.0", FetchPolicy(tmp_path / "cache", mirror=mirror.url))
    assert got.problem == (
        f"{mirror.url}{MULTUS_PATH}: not the expected manifest: "
        "no CustomResourceDefinition network-attachment-definitions.k8s.cni.cncf.io with an openAPIV3Schema"
    )
    assert cached_files(tmp_path / "cache") == []


@pytest.mark.parametrize(
    "body",
    [
        b"apiVersion: v1\nkind: Namespace\nmetadata: {name: kubevirt}\n",
        b"kind: CustomResourceDefinition\nmetadata: null\nspec: {versions: [null]}\n---\n[a list]\n",
    ],
    ids=["no-crd", "odd-shapes"],
)
def test_an_operator_manifest_without_the_kubevirt_crd_is_refused(body: bytes, mirror: Mirror, tmp_path: Path) -> None:
    mirror.routes[OPERATOR_PATH] = Route(body)
    got = obtain(KUBEVIRT_OPERATOR, "v1.9.0", FetchPolicy(tmp_path / "cache", mirror=mirror.url))
    assert got.problem == f"{mirror.url}{OPERATOR_PATH}: not the expected manifest: no CustomResourceDefinition kubevirts.kubevirt.io"


def test_a_plan_with_failed_downloads_exits_0_naming_each_reason(mirror: Mirror, cache: Path, tmp_path: Path) -> None:
    mirror.routes[SWAGGER_PATH] = Route(b"<html>captive portal</html>")
    run = run_plan(tmp_path / "dev", "dev", "--mirror", mirror.url)
    assert run.code == 0
    assert run.stderr == ""
    assert run.statuses()[("VirtualMachineInstance", "vm1")] == (
        "not validated",
        f"not validated: no schema for KubeVirt v1.9.0: {mirror.url}{SWAGGER_PATH}: not JSON (Expecting value: line 1 column 1 (char 0))"
        " (use --schemas DIR or --mirror URL)",
    )
    assert f"upstream multus-v4.3.0-daemonset-thick.yml: not available: {mirror.url}{MULTUS_PATH}: HTTP 404 Not Found" in run.stdout
    assert cached_files(cache) == []


def test_a_cached_file_that_fails_the_check_is_not_used(mirror: Mirror, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "kubevirt-v1.9.0-swagger.json").write_text('{"definitions": ')
    offline = obtain(KUBEVIRT_SWAGGER, "v1.9.0", FetchPolicy(cache, offline=True))
    assert offline.content is None
    assert offline.problem.startswith(
        f"offline, no cached KubeVirt v1.9.0 swagger; the cached {cache / 'kubevirt-v1.9.0-swagger.json'} is not usable (not JSON"
    )
    mirror.routes[SWAGGER_PATH] = Route(SWAGGER_BODY)
    online = obtain(KUBEVIRT_SWAGGER, "v1.9.0", FetchPolicy(cache, mirror=mirror.url))
    assert online.content == SWAGGER_BODY
    assert (cache / "kubevirt-v1.9.0-swagger.json").read_bytes() == SWAGGER_BODY


def test_a_manifest_at_a_custom_url_is_not_fetched(mirror: Mirror, cache: Path, tmp_path: Path) -> None:
    custom = f"{mirror.url}/my/multus.yml"
    mirror.routes["/my/multus.yml"] = Route(b"")
    multus = {**stack_value("dev", "multus"), "manifest": custom}
    run = run_plan(tmp_path / "dev", "dev", "--offline", "--set", f"kvm-in-a-pod:multus={json.dumps(multus)}")
    assert run.code == 0, run.stderr
    assert "/my/multus.yml" not in mirror.requests
    assert run.statuses()[("ConfigFile", "multus-manifest")] == (
        "not validated",
        "not validated: a custom URL; the plan fetches only upstream's files at the stack's versions",
    )


# --- addresses and the cache directory -------------------------------------------------------


def test_upstream_manifest_urls_are_the_ones_the_program_applies() -> None:
    assert KUBEVIRT_OPERATOR.upstream_url("v1.9.0") == KubeVirtConfig().operator_manifest_source
    assert MULTUS_MANIFEST.upstream_url("v4.3.0") == MultusConfig().manifest_source
    assert KUBEVIRT_SWAGGER.upstream_url("v1.9.0") == (
        "https://raw.githubusercontent.com/kubevirt/kubevirt/v1.9.0/api/openapi-spec/swagger.json"
    )


def test_a_mirror_replaces_the_host_and_keeps_the_path() -> None:
    assert KUBEVIRT_OPERATOR.url("v1.9.0", "http://mirror.example:8080/base/") == (
        "http://mirror.example:8080/base/kubevirt/kubevirt/releases/download/v1.9.0/kubevirt-operator.yaml"
    )


def test_the_cache_follows_xdg() -> None:
    assert default_cache_dir({"XDG_CACHE_HOME": "/var/cache/me", "HOME": "/home/me"}) == Path("/var/cache/me/kvm-in-a-pod/upstream")
    # The XDG spec ignores a relative XDG_CACHE_HOME.
    assert default_cache_dir({"XDG_CACHE_HOME": "rel", "HOME": "/home/me"}) == Path("/home/me/.cache/kvm-in-a-pod/upstream")
    assert default_cache_dir({"HOME": "/home/me"}) == Path("/home/me/.cache/kvm-in-a-pod/upstream")
