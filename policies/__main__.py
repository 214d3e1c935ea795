"""The ``macvtap-guardrails`` policy pack: ``pulumi preview --policy-pack policies``.

Only builds the pack: ``PolicyPack(...)`` starts the analyzer's gRPC server and never
returns, so nothing may import this file. The policies live in the ``guardrails`` package.
"""

import importlib

from pulumi_policy import PolicyPack

# The CLI runs this directory with runpy.run_path, which puts policies/ first on sys.path,
# so the module is "guardrails" here (and "policies.guardrails" everywhere else).
guardrails = importlib.import_module("guardrails")

PolicyPack(
    name=guardrails.PACK_NAME,
    policies=guardrails.POLICIES,
    description="Guardrails for KubeVirt VMs on a macvtap network: NADs, device plugin config, "
    "VM shape, capacity, MAC uniqueness, ordering and SSH host keys.",
)
