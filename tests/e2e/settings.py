"""What the e2e fixtures and tests agree on: upstream files from the workspace and the double's timing."""

from __future__ import annotations

from tests.e2e.tools import REPO_ROOT

SHARED = REPO_ROOT.parent / "shared"
MULTUS_MANIFEST = SHARED / "fixtures" / "multus-daemonset-thick-v4.3.0.yml"
# The KubeVirt test double sets conditions this long after an object appears, so a `pulumi up`
# that returned before then did not wait.
DOUBLE_DELAY_SECONDS = 4.0
# Objects whose name starts with this never get a condition (the timeout test).
NEVER_READY_PREFIX = "stuck-"
