"""Upstream files the offline plan needs, by version: the user's cache first, else one download.

Three files, each named by a release tag of the stack config:

- KubeVirt's Swagger 2.0 API schema at ``kubevirt.version`` (the schemas of the KubeVirt kinds);
- Multus's thick-plugin manifest at ``multus.version`` (the NetworkAttachmentDefinition CRD is
  one of its documents, and its objects are what the Multus component applies);
- KubeVirt's release ``kubevirt-operator.yaml`` at ``kubevirt.version`` (what the KubeVirt
  component applies).

A file is downloaded over HTTPS from upstream (or from ``--mirror``, which replaces the
upstream host and keeps the path), with a bounded time, checked for sanity (it parses and holds
what the plan needs), and only then written to the cache, atomically (a temp file renamed into
place). So the cache only ever holds files that passed the check, keyed by version in the name.
``--offline`` never touches the network: what is not cached is reported as unavailable.
Nothing here raises for an unavailable file: the plan reports it, per object, as not validated.

Which schema checks which kind is one table, ``KIND_SOURCES``: a new KubeVirt or Multus kind
needs one entry there (the sanity check then requires its definition too).
"""

from __future__ import annotations

import http.client
import json
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from components.config import NAMESPACE, KubeVirtConfig, MultusConfig
from offline.schema_check import KindSchema, Schemas, crd_kinds, swagger_kinds

# A download that has not completed in this time is abandoned (connect, each read, and the total).
DOWNLOAD_TIMEOUT_SECONDS = 30.0
# The v1.9.0 swagger is 0.75 MB; anything this large is not one of our files.
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
CACHE_SUBDIRECTORY = Path("kvm-in-a-pod") / "upstream"
USER_AGENT = "kvm-in-a-pod-offline-plan"


class UnusableFileError(Exception):
    """A file that is not what it claims to be (does not parse, lacks a definition we need)."""


@dataclass(frozen=True)
class Artifact:
    """One upstream file, addressed by a release tag."""

    project: str  # "KubeVirt", "Multus": the version in messages belongs to it
    what: str  # "swagger", "operator manifest", ...
    url_template: str  # the upstream address, with {version}
    file_template: str  # the cache file name, with {version}
    check: Callable[[bytes], None]  # raises UnusableFileError

    def upstream_url(self, version: str) -> str:
        return self.url_template.format(version=version)

    def url(self, version: str, mirror: str | None) -> str:
        """Upstream, or the same path under ``mirror`` (``http://mirror/kubevirt/kubevirt/v1.9.0/api/...``)."""
        upstream = self.upstream_url(version)
        return mirror.rstrip("/") + urlsplit(upstream).path if mirror else upstream

    def file_name(self, version: str) -> str:
        return self.file_template.format(version=version)

    def label(self, version: str) -> str:
        return f"{self.project} {version} {self.what}"


@dataclass(frozen=True)
class KindSource:
    """Where a kind's schema comes from: a swagger definition or a CRD, in an artifact."""

    artifact: Artifact
    definition: str  # swagger definition name (v1.VirtualMachineInstance) or CRD name


def _check_swagger(content: bytes) -> None:
    try:
        document = json.loads(content)
    except ValueError as error:
        raise UnusableFileError(f"not JSON ({error})") from None
    definitions = document.get("definitions") if isinstance(document, dict) else None
    if not isinstance(definitions, dict) or not isinstance(document.get("paths"), dict):
        raise UnusableFileError("not a Swagger 2.0 API schema (no definitions and paths)")
    missing = [source.definition for source in sources_in(KUBEVIRT_SWAGGER) if source.definition not in definitions]
    if missing:
        raise UnusableFileError(f"not KubeVirt's API schema: no definition {', '.join(missing)}")


def _crd_names(content: bytes, with_schema: bool) -> set[str]:
    try:
        documents = list(yaml.safe_load_all(content))
    except yaml.YAMLError as error:
        raise UnusableFileError(f"not YAML ({str(error).splitlines()[0]})") from None
    names = set()
    for document in documents:
        if not isinstance(document, dict) or document.get("kind") != "CustomResourceDefinition":
            continue
        versions = _mapping(document.get("spec")).get("versions")
        schemas = [_mapping(_mapping(version).get("schema")) for version in versions] if isinstance(versions, list) else []
        if not with_schema or any("openAPIV3Schema" in schema for schema in schemas):
            names.add(str(_mapping(document.get("metadata")).get("name")))
    return names


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else empty: a file that passes nothing must not raise."""
    return value if isinstance(value, dict) else {}


def _require_crds(content: bytes, names: Iterable[str], with_schema: bool) -> None:
    missing = sorted(set(names) - _crd_names(content, with_schema))
    if missing:
        schema = " with an openAPIV3Schema" if with_schema else ""
        raise UnusableFileError(f"not the expected manifest: no CustomResourceDefinition {', '.join(missing)}{schema}")


def _check_multus_manifest(content: bytes) -> None:
    _require_crds(content, (source.definition for source in sources_in(MULTUS_MANIFEST)), with_schema=True)


def _check_operator_manifest(content: bytes) -> None:
    _require_crds(content, (KUBEVIRT_CRD,), with_schema=False)


# Upstream addresses: the swagger as kubevirt/common-instancetypes' scripts/schema.sh fetches it,
# the operator as kubevirt/demo's README applies it, the thick manifest as Multus's quickstart
# applies it. components/config/models/platform.py builds the same two manifest URLs (a test holds them equal).
KUBEVIRT_SWAGGER = Artifact(
    "KubeVirt",
    "swagger",
    "https://raw.githubusercontent.com/kubevirt/kubevirt/{version}/api/openapi-spec/swagger.json",
    "kubevirt-{version}-swagger.json",
    _check_swagger,
)
MULTUS_MANIFEST = Artifact(
    "Multus",
    "thick-plugin manifest",
    "https://raw.githubusercontent.com/k8snetworkplumbingwg/multus-cni/{version}/deployments/multus-daemonset-thick.yml",
    "multus-{version}-daemonset-thick.yml",
    _check_multus_manifest,
)
# The operator manifest brings the KubeVirt CRD (domain.md); that is all the plan relies on.
KUBEVIRT_CRD = "kubevirts.kubevirt.io"
KUBEVIRT_OPERATOR = Artifact(
    "KubeVirt",
    "operator manifest",
    "https://github.com/kubevirt/kubevirt/releases/download/{version}/kubevirt-operator.yaml",
    "kubevirt-{version}-operator.yaml",
    _check_operator_manifest,
)
# The hosts --mirror stands in for.
UPSTREAM_HOSTS = ("https://raw.githubusercontent.com", "https://github.com")

# (apiVersion, kind) -> where its schema comes from. A new kind is one entry here.
KIND_SOURCES: dict[tuple[str, str], KindSource] = {
    ("kubevirt.io/v1", "KubeVirt"): KindSource(KUBEVIRT_SWAGGER, "v1.KubeVirt"),
    ("kubevirt.io/v1", "VirtualMachineInstance"): KindSource(KUBEVIRT_SWAGGER, "v1.VirtualMachineInstance"),
    ("kubevirt.io/v1", "VirtualMachine"): KindSource(KUBEVIRT_SWAGGER, "v1.VirtualMachine"),
    ("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition"): KindSource(MULTUS_MANIFEST, "network-attachment-definitions.k8s.cni.cncf.io"),
}


def sources_in(artifact: Artifact) -> list[KindSource]:
    return [source for source in KIND_SOURCES.values() if source.artifact == artifact]


def upstream_versions(config: Mapping[str, Any]) -> dict[Artifact, str]:
    """Each artifact's release tag from the effective stack config (full keys, as in the stack file).

    Called after the program accepted the config, so the typed models parse it.
    """
    kubevirt = KubeVirtConfig.model_validate(config.get(f"{NAMESPACE}:kubevirt") or {})
    multus = MultusConfig.model_validate(config.get(f"{NAMESPACE}:multus") or {})
    return {KUBEVIRT_SWAGGER: kubevirt.version, KUBEVIRT_OPERATOR: kubevirt.version, MULTUS_MANIFEST: multus.version}


def default_cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_CACHE_HOME/kvm-in-a-pod/upstream``, ``~/.cache/...`` when unset or relative (XDG Base Directory spec)."""
    base = environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path(environ.get("HOME") or Path.home()) / ".cache"
    return root / CACHE_SUBDIRECTORY


def refuse_mirror(mirror: str) -> str | None:
    """Why ``mirror`` cannot be used as a ``--mirror`` base address, or None."""
    parts = urlsplit(mirror)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{mirror!r}: expected an http(s) URL such as http://mirror.example:8080"
    if parts.username is not None or parts.password is not None:
        # The address is printed and written into the plan's reports.
        return "credentials in the URL are not supported (they would be shown in the plan's output)"
    return None


@dataclass(frozen=True)
class FetchPolicy:
    cache_dir: Path
    offline: bool = False
    mirror: str | None = None  # replaces https://raw.githubusercontent.com and https://github.com
    timeout: float = DOWNLOAD_TIMEOUT_SECONDS


@dataclass(frozen=True)
class Obtained:
    """One artifact at one version: its content, where it came from, or why there is none."""

    artifact: Artifact
    version: str
    content: bytes | None
    origin: str = ""  # "cache" or the URL it was downloaded from
    problem: str = ""  # why content is None
    offline: bool = False  # unavailable only because --offline forbade the download
    note: str = ""  # e.g. a cache write that failed (the content is still used)

    @property
    def name(self) -> str:
        return self.artifact.file_name(self.version)

    @property
    def label(self) -> str:
        return self.artifact.label(self.version)

    def describe(self) -> str:
        """One line for the plan's summary."""
        if self.content is None:
            return f"{self.name}: not available: {self.problem}"
        where = "from the cache" if self.origin == "cache" else f"downloaded from {self.origin}"
        return f"{self.name}: {where}" + (f" ({self.note})" if self.note else "")


class DownloadError(Exception):
    """A download that did not give a complete file: the message says why, for the user."""


def download(url: str, timeout: float) -> bytes:
    """The body of ``url``, complete, within ``timeout`` seconds in total; else DownloadError."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise DownloadError("only http(s) addresses are fetched")
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            declared = response.headers.get("Content-Length")
            body = bytearray()
            while chunk := response.read(1 << 16):
                body += chunk
                if len(body) > MAX_DOWNLOAD_BYTES:
                    raise DownloadError(f"larger than {MAX_DOWNLOAD_BYTES >> 20} MiB; not one of the files the plan reads")
                if time.monotonic() > deadline:
                    raise DownloadError(f"not complete within {timeout:g} s")
            # HTTPResponse.read(amt) returns what it got when the peer closes early.
            if declared is not None and declared.isdigit() and len(body) != int(declared):
                raise DownloadError(f"truncated: got {len(body)} of {declared} bytes")
            return bytes(body)
    except urllib.error.HTTPError as error:
        raise DownloadError(f"HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise DownloadError(f"no answer within {timeout:g} s") from None
        raise DownloadError(f"cannot connect ({error.reason})") from None
    except TimeoutError:
        raise DownloadError(f"no answer within {timeout:g} s") from None
    except http.client.IncompleteRead as error:
        raise DownloadError(f"truncated: got {len(error.partial)} bytes, then the connection closed") from None
    except (OSError, http.client.HTTPException) as error:
        raise DownloadError(f"{type(error).__name__}: {error}") from None


def obtain(artifact: Artifact, version: str, policy: FetchPolicy) -> Obtained:
    """The artifact from the cache, else downloaded, checked and cached; never raises for the network."""
    path = policy.cache_dir / artifact.file_name(version)
    stale = ""
    if path.is_file():
        try:
            content = path.read_bytes()
            artifact.check(content)
            return Obtained(artifact, version, content, origin="cache")
        except (OSError, UnusableFileError) as error:
            stale = f"; the cached {path} is not usable ({error})"
    if policy.offline:
        return Obtained(artifact, version, None, problem=f"offline, no cached {artifact.label(version)}{stale}", offline=True)
    url = artifact.url(version, policy.mirror)
    try:
        content = download(url, policy.timeout)
        artifact.check(content)
    except (DownloadError, UnusableFileError) as error:
        return Obtained(artifact, version, None, problem=f"{url}: {error}")
    try:
        _store(path, content)
    except OSError as error:
        return Obtained(artifact, version, content, origin=url, note=f"not cached: {error}")
    return Obtained(artifact, version, content, origin=url)


def _store(path: Path, content: bytes) -> None:
    """Write atomically: a reader sees the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        os.chmod(temporary, 0o644)  # mkstemp makes it private; these are public upstream files
        with os.fdopen(handle, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@dataclass
class Upstream:
    """The artifacts one plan run asks for, each obtained at most once (in request order)."""

    policy: FetchPolicy
    obtained: dict[tuple[str, str], Obtained] = field(default_factory=dict)

    def get(self, artifact: Artifact, version: str) -> Obtained:
        key = (artifact.file_template, version)
        if key not in self.obtained:
            self.obtained[key] = obtain(artifact, version, self.policy)
        return self.obtained[key]

    def remote_manifest(self, url: str, versions: Mapping[Artifact, str]) -> Obtained | None:
        """The artifact a remote manifest URL names at our versions; None for any other URL."""
        for artifact, version in versions.items():
            if artifact.upstream_url(version) == url:
                return self.get(artifact, version)
        return None


def schemas_by_version(upstream: Upstream, versions: Mapping[Artifact, str]) -> Schemas:
    """The KIND_SOURCES kinds' schemas from the artifacts at ``versions``; the others reported unavailable."""
    kinds: dict[tuple[str, str], KindSchema] = {}
    files: list[str] = []
    unavailable: dict[tuple[str, str], str] = {}
    for artifact in dict.fromkeys(source.artifact for source in KIND_SOURCES.values()):
        got = upstream.get(artifact, versions[artifact])
        if got.content is None:
            hint = "(use --schemas DIR)" if got.offline else "(use --schemas DIR or --mirror URL)"
            reason = (
                f"offline, no cached schema for {artifact.project} {got.version}"
                if got.offline
                else f"no schema for {artifact.project} {got.version}: {got.problem}"
            )
            unavailable.update({key: f"{reason} {hint}" for key, source in KIND_SOURCES.items() if source.artifact == artifact})
            continue
        files.append(got.name)
        kinds.update(_kinds_in(artifact, got))
    return Schemas(kinds, tuple(files), unavailable=unavailable)


def _kinds_in(artifact: Artifact, got: Obtained) -> Iterator[tuple[tuple[str, str], KindSchema]]:
    assert got.content is not None  # the caller checked
    if artifact == KUBEVIRT_SWAGGER:
        return swagger_kinds(json.loads(got.content), got.name)
    return crd_kinds(yaml.safe_load_all(got.content), got.name)
