"""A `vms` stack's platform: another stack of this project, read through one StackReference.

The VM side is registered inside one ``apply`` on the reference's ``macvtapPlatform`` output, after
the VMs' networks have been checked against it, so a bad reference or an unknown network stops the
program before any VM resource is registered. This relies on the output being known at preview:
the engine's builtin provider reads a StackReference's outputs from the backend's last checkpoint of
the referenced stack during preview as during update (pulumi/pkg/resource/deploy/builtins.go,
``readStackReference``), so the apply runs in ``pulumi preview`` too.

``get_output`` (Python SDK 3.272, pulumi/stack_reference.py) gives ``None`` for a missing output,
where ``require_output`` would end in a bare KeyError; ``None`` is refused here with the key path.
A stack that does not exist fails in the engine itself ("unknown stack"), before any apply runs,
and no program code can catch it (pulumi/pulumi#19202).
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.config import ConfigError, VmStackConfig, check_vm_networks
from components.platform_export import EXPORT_NAME, networks_output, read_platform_export
from components.vm_deployment import deploy_vms
from components.vm_namespace import vm_namespace_prerequisites

REFERENCE_NAME = "platform"


def deploy_vms_on_platform_stack(config: VmStackConfig) -> pulumi.Output[dict[str, Any]]:
    """Read the platform stack, check the VMs against its export, then register them; the ``vms`` output."""
    reference = pulumi.StackReference(REFERENCE_NAME, config.platform_stack)

    def register(value: Any) -> dict[str, Any]:
        try:
            platform = read_platform_export(value, config.platform_stack)
            problems = check_vm_networks(config.vms, platform.network_mtus, f"the networks stack {config.platform_stack!r} exports")
            if problems:
                raise ConfigError(problems)
        except ConfigError as error:
            raise pulumi.RunError(str(error)) from None
        # The platform's resources live in the other stack: the reference stands for them, so the
        # VM objects and the NADs depend on it (vm-waits-for-platform).
        vm_namespace = vm_namespace_prerequisites(config)
        return deploy_vms(
            config.vms,
            config.vm_namespace,
            networks=networks_output(platform.networks),
            platform=[reference, *vm_namespace],
            nad_prerequisites=[reference, *vm_namespace],
            namespace_prerequisites=vm_namespace,
            console_password=config.console_password,
        )

    return reference.get_output(EXPORT_NAME).apply(register)
