"""Shared fixtures: recordings of the real program under the recording mock engine."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.engine import PROJECT_ROOT, Recording, record_stack

# The end-to-end suite needs the real Pulumi engine and a control plane: `make e2e` only. The
# dataplane suite needs root, network namespaces and qemu: `make dataplane` (and `make e2e`) only.
collect_ignore = [] if os.environ.get("KVM_E2E") == "1" else ["e2e"]
if os.environ.get("KVM_DATAPLANE") != "1":
    collect_ignore.append("dataplane")

# A recognisable stand-in for the SSH private key: tests look for it everywhere it must
# not be. It is not a real key.
FAKE_SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nkvm-in-a-pod-test-key-c2VjcmV0LW11c3Qtbm90LWxlYWs=\n-----END OPENSSH PRIVATE KEY-----\n"
)
SSH_KEY_CONFIG = "kvm-in-a-pod:sshPrivateKey"


def stack_value(stack: str, key: str) -> Any:
    """A value from the committed ``Pulumi.<stack>.yaml`` (a deep copy, safe to edit)."""
    document = yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text())
    return copy.deepcopy(document["config"][f"kvm-in-a-pod:{key}"])


@pytest.fixture(scope="session")
def fake_cni_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cni") / "macvtap"
    path.write_bytes(b"#!/bin/sh\necho 'fake macvtap CNI v1'\n")
    return path


RecordLab = Callable[..., Recording]


@pytest.fixture(scope="session")
def record_lab(fake_cni_binary: Path) -> RecordLab:
    """Record the lab stack with the test key and binary; keyword args override keys."""

    def record(**overrides: Any) -> Recording:
        macvtap = stack_value("lab", "macvtap")
        macvtap["cniBinaryPath"] = str(fake_cni_binary)
        config: dict[str, Any] = {"kvm-in-a-pod:macvtap": macvtap}
        config.update({f"kvm-in-a-pod:{key}": value for key, value in overrides.items()})
        return record_stack("lab", config_overrides=config, secret_values={SSH_KEY_CONFIG: FAKE_SSH_KEY})

    return record


@pytest.fixture(scope="session")
def dev() -> Recording:
    return record_stack("dev")


@pytest.fixture(scope="session")
def lab(record_lab: RecordLab) -> Recording:
    return record_lab()


@pytest.fixture(scope="session", autouse=True)
def isolated_upstream_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """No plan run of a test reads or fills the user's cache of upstream files (offline.schema_source).

    Only tests/upstream.py does, on purpose, to get upstream's swagger and Multus manifest as
    ``make plan`` would (it read the real cache directory before this fixture ran).
    """
    with pytest.MonkeyPatch.context() as patch:
        cache_home = tmp_path_factory.mktemp("xdg-cache")
        patch.setenv("XDG_CACHE_HOME", str(cache_home))
        yield cache_home
