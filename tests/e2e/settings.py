"""What the e2e fixtures and tests agree on: upstream's files and the double's timing."""

from __future__ import annotations

from tests import upstream

# Upstream's files by version, where the offline plan's cache keeps them (tests/upstream.py);
# ../shared's copies when the workspace has them. `make e2e` obtains them before anything runs.
MULTUS_MANIFEST = upstream.expected_path(*upstream.MULTUS)
SWAGGER = upstream.expected_path(*upstream.SWAGGER)
# The KubeVirt test double sets conditions this long after an object appears, so a `pulumi up`
# that returned before then did not wait.
DOUBLE_DELAY_SECONDS = 4.0
# Objects whose name starts with this never get a condition (the timeout test).
NEVER_READY_PREFIX = "stuck-"
