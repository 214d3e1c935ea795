"""Upstream's files for the tests, the e2e suite and the engine benchmark, got the way the offline plan gets them.

The plan reads KubeVirt's swagger and Multus's thick-plugin manifest by version from the user's
cache, downloading what is missing (``offline.schema_source``). So do the tests that need them,
and ``make e2e``: on a machine with internet they run, in a fresh clone as in this workspace. A
verified copy in ``../shared`` (this workspace and CI keep one beside the checkout) is used first,
as one more local source, and is never copied into the project.

When neither can be had, the test skips and the reason names the file, why it could not be had
and the command that gets it.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.config.models import DEFAULT_KUBEVIRT_VERSION, DEFAULT_MULTUS_VERSION
from offline.engine import PROJECT_ROOT
from offline.schema_source import (
    KUBEVIRT_SWAGGER,
    MULTUS_MANIFEST,
    Artifact,
    FetchPolicy,
    Obtained,
    UnusableFileError,
    default_cache_dir,
    obtain,
)

SHARED = PROJECT_ROOT.parent / "shared"
# ../shared's names for the same files (its README lists them).
SHARED_COPIES: dict[tuple[Artifact, str], Path] = {
    (KUBEVIRT_SWAGGER, "v1.9.0"): SHARED / "schemas" / "kubevirt-v1.9.0-swagger.json",
    (MULTUS_MANIFEST, "v4.3.0"): SHARED / "fixtures" / "multus-daemonset-thick-v4.3.0.yml",
}
# ../shared/schemas holds the swagger and the NAD CRD on its own: a ready --schemas directory.
SHARED_SCHEMAS = SHARED / "schemas"
# Read when this module is imported, before tests/conftest.py points XDG_CACHE_HOME at a temp
# directory for everything else: this is the user's real cache, where `make plan` keeps them.
USER_CACHE = default_cache_dir()
SWAGGER = (KUBEVIRT_SWAGGER, DEFAULT_KUBEVIRT_VERSION)
MULTUS = (MULTUS_MANIFEST, DEFAULT_MULTUS_VERSION)


class UpstreamUnavailableError(Exception):
    """The file could not be had; the message says which, why and how to get it."""


@dataclass(frozen=True)
class UpstreamFile:
    path: Path  # a verified copy: in ../shared or in the cache
    origin: str  # "../shared", "cache" or the URL it was downloaded from

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()


def how_to_get(artifact: Artifact, version: str, cache: Path = USER_CACHE) -> str:
    return (
        f"`make plan` where {artifact.upstream_url(version)} can be reached caches it in {cache}"
        " (or `make plan MIRROR=URL`, or keep a copy in ../shared)"
    )


def upstream_file(artifact: Artifact, version: str, cache: Path = USER_CACHE, mirror: str | None = None) -> UpstreamFile:
    """``artifact`` at ``version``: ../shared's verified copy, else the cache, else a download into the cache (from ``mirror``).

    One attempt per process, failures included: a network that drops packets would otherwise cost
    the 30-second download limit once per test that needs the file.
    """
    key = (artifact.file_template, version, cache, mirror)
    if key not in _ATTEMPTS:
        try:
            _ATTEMPTS[key] = _obtain(artifact, version, cache, mirror)
        except UpstreamUnavailableError as error:
            _ATTEMPTS[key] = error
    found = _ATTEMPTS[key]
    if isinstance(found, UpstreamUnavailableError):
        raise found
    return found


_ATTEMPTS: dict[tuple[str, str, Path, str | None], UpstreamFile | UpstreamUnavailableError] = {}


def _obtain(artifact: Artifact, version: str, cache: Path, mirror: str | None) -> UpstreamFile:
    shared = SHARED_COPIES.get((artifact, version))
    if shared is not None and shared.is_file():
        try:
            artifact.check(shared.read_bytes())
            return UpstreamFile(shared, "../shared")
        except (OSError, UnusableFileError):
            pass  # not usable: fall back on the cache, as the plan would
    got: Obtained = obtain(artifact, version, FetchPolicy(cache, mirror=mirror))
    path = cache / artifact.file_name(version)
    if got.content is None or not path.is_file():
        why = got.problem if got.content is None else got.note
        raise UpstreamUnavailableError(f"needs {got.label} ({got.name}): {why}; {how_to_get(artifact, version, cache)}")
    return UpstreamFile(path, got.origin)


def required(artifact: Artifact, version: str) -> UpstreamFile:
    """The file, or skip the test saying what is missing and how to get it."""
    try:
        return upstream_file(artifact, version)
    except UpstreamUnavailableError as error:
        pytest.skip(str(error))


def _shared_schemas_complete() -> bool:
    return (SHARED_SCHEMAS / SHARED_COPIES[SWAGGER].name).is_file() and any(SHARED_SCHEMAS.glob("*.yaml"))


def schema_directory(workdir: Path) -> Path:
    """A ``--schemas`` directory with KubeVirt's swagger and the NAD CRD: ../shared/schemas, or
    ``workdir`` holding links to the two upstream files. Raises UpstreamUnavailableError."""
    if _shared_schemas_complete():
        return SHARED_SCHEMAS
    workdir.mkdir(parents=True, exist_ok=True)
    for artifact, version in (SWAGGER, MULTUS):
        found = upstream_file(artifact, version)
        link = workdir / artifact.file_name(version)
        if not link.exists():
            link.symlink_to(found.path)
    return workdir


@functools.cache
def _links_dir() -> Path:
    links = Path(tempfile.mkdtemp(prefix="kvm-in-a-pod-upstream-schemas-"))
    atexit.register(shutil.rmtree, links, ignore_errors=True)  # two symlinks; gone with the test run
    return links


def schemas_or_skip() -> str:
    """``schema_directory`` for ``--schemas``, or skip the test saying what is missing and how to get it."""
    try:
        return str(SHARED_SCHEMAS if _shared_schemas_complete() else schema_directory(_links_dir()))
    except UpstreamUnavailableError as error:
        pytest.skip(str(error))


def expected_path(artifact: Artifact, version: str, cache: Path = USER_CACHE) -> Path:
    """Where ``upstream_file`` finds (or will put) the file: ../shared's copy when there is one, else the cache's.

    For module-level paths of the e2e suite; ``make e2e`` obtains the files first
    (tests/e2e/prerequisites.py), so they exist by the time a test reads them.
    """
    shared = SHARED_COPIES.get((artifact, version))
    return shared if shared is not None and shared.is_file() else cache / artifact.file_name(version)
