"""MacvtapVM: one KubeVirt VM, waiting for exactly the NADs it uses, from a ``MacvtapVMArgs``.

It registers the VM object (and, with a console password, the Secret holding its user data) only
once its arguments pass ``check_vm``, so a refused VM registers no Kubernetes object. Arguments
that are known when it is constructed (a stack's config) are checked there and then, and the
objects get plain inputs; the console password, a secret Output, is checked in the Output that
makes the Secret's user data, and the VM object waits for the Secret. Arguments that are Outputs
(another resource's, a StackReference's), and every argument in the component provider, are
checked when they resolve: the objects' inputs are Outputs of that check, so a refusal fails them
before they are sent, and the component's outputs, which the provider hands back to the engine,
carry the refusal to the consumer's ``preview``.

Pulumi does not pass a component's ``depends_on`` to its children (domain.md, "Pulumi facts that
bite"): a consumer's ``dependsOn`` is given to the VM object and the Secret here, as it is the
only ordering another language can express. A Python program that holds the platform and the
NADs itself says, resource by resource, what each object waits for (``MacvtapVMWiring``).
"""

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import cloud_init
from components.config import RunStrategy, VMKind
from components.interface import PASSWORD_INPUT, hosted, is_plain, own_depends_on, refusal
from components.macvtap_vm.args import CheckedVm, MacvtapVMArgs, check_vm, password_problems
from components.macvtap_vm.generations import NadGenerations, annotated
from components.macvtap_vm.manifests import (
    VIRTCTL_ACTIONS,
    VMI_REPLACE_ON_CHANGES,
    cloud_init_secret_manifest,
    cloud_init_secret_name,
    plan_attachments,
    virtual_machine_manifest,
    vm_outputs,
    vmi_manifest,
)
from components.ownership import owned
from components.vmi_provider import RESOURCE_NAME as VMI_PROVIDER_NAME
from components.vmi_provider import vmi_provider

TYPE = "kvm-in-a-pod:index:MacvtapVM"
COMPONENT = "MacvtapVM"
SECRET_REQUIRED = (
    "must be a secret, so that it stays out of the state and the logs in plain text: pulumi.secret(...), or a config value"
    " set with pulumi config set --secret"
)


@dataclass(frozen=True)
class MacvtapVMWiring:
    """What a Python program that holds these resources itself hands a MacvtapVM beside its args.

    No schema type can carry them (a resource of any type is none, and one component cannot take
    another: pulumi/pulumi#18484); other languages order the VM with ``dependsOn``.
    """

    # The NADs by name; the VM object waits for the ones it uses (all of them when the args are Outputs).
    nad_resources: Mapping[str, pulumi.Resource] = field(default_factory=dict)
    # What the VM object waits for besides: the KubeVirt CR, the device plugin, node installs, a StackReference.
    platform: Sequence[pulumi.Resource] = ()
    # What the Secret (and through it the VM object) waits for: the VM namespace, when the program creates it.
    namespace: Sequence[pulumi.Resource] = ()
    # The provider a VMI is registered with; None: a client-side-apply provider of the VM's own (vmi_provider.py).
    vmi_provider: pulumi.ProviderResource | None = None

    @functools.cached_property
    def nad_generations(self) -> NadGenerations:
        """The NADs' generations, shared by every VM given this wiring (generations.py)."""
        return NadGenerations(self.nad_resources)


@dataclass(frozen=True)
class _Plan:
    """Everything the VM's objects and outputs are made of, once its arguments passed."""

    checked: CheckedVm
    manifest: dict[str, Any]
    secret_metadata: dict[str, Any] | None
    outputs: dict[str, Any]


class MacvtapVM(pulumi.ComponentResource):
    """A KubeVirt VM whose NICs beside the pod network sit directly on a node's L2 network through macvtap."""

    vm_name: pulumi.Output[str]
    """The name of the VM object."""
    namespace: pulumi.Output[str]
    """The namespace of the VM object."""
    kind: pulumi.Output[VMKind]
    """The kind of the VM object."""
    run_strategy: pulumi.Output[RunStrategy] | None
    """The run strategy of a VirtualMachine; absent for a VirtualMachineInstance."""
    macs: pulumi.Output[dict[str, str]]
    """The MAC of each macvtap NIC by interface name (`macvtap0`, ...), e.g. for DHCP reservations."""
    nads: pulumi.Output[list[str]]
    """The NADs the VM uses, once each, sorted."""
    virtctl: pulumi.Output[dict[str, str]]
    """The virtctl commands that apply, by action: `console`, and `start`, `stop`, `restart` as kind and run strategy allow."""
    on_change: pulumi.Output[str]
    """What a change does to the running VM: a VMI is replaced; a VirtualMachine is updated and applies it at its next restart."""

    def __init__(
        self,
        name: str,
        args: MacvtapVMArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        wiring: MacvtapVMWiring | None = None,
    ) -> None:
        wiring = wiring or MacvtapVMWiring()
        values = {key: value for key, value in args.items() if key != PASSWORD_INPUT}
        password_input = args.get("consolePassword")
        has_password = password_input is not None
        kind = _vm_kind(name, args.get("kind", VMKind.VIRTUAL_MACHINE_INSTANCE))
        checked_now: CheckedVm | None = None
        if not hosted() and is_plain(values):
            checked_now = _checked(name, values, has_password, [])
            if isinstance(password_input, str) and (problems := password_problems(password_input)):
                raise refusal(COMPONENT, name, problems)
        super().__init__(TYPE, name, None, opts)

        stack = pulumi.get_stack()
        password = None if password_input is None else pulumi.Output.secret(password_input)
        # Known args (a stack's config) make plain inputs and no Output per VM: a stack of 1,000
        # VMs spent twice as long when every object's inputs went through Outputs.
        metadata: Any
        spec: Any
        secret_metadata: Any
        user_data: pulumi.Output[str] | None = None
        if checked_now is not None:
            known = _plan(stack, checked_now, kind, has_password)
            self._plan: pulumi.Output[_Plan] = pulumi.Output.from_input(known)
            metadata, spec, secret_metadata = known.manifest["metadata"], known.manifest["spec"], known.secret_metadata
            keys = checked_now.vm.ssh_authorized_keys
            if password is not None:
                user_data = password.apply(functools.partial(_user_data, name, keys))
        else:
            checked: pulumi.Output[CheckedVm] = pulumi.Output.all(
                pulumi.Output.from_input(values), _password_problems(password_input, password)
            ).apply(lambda resolved: _checked(name, resolved[0], has_password, resolved[1]))
            self._plan = checked.apply(lambda vm: _plan(stack, vm, kind, has_password))
            metadata, spec = self._plan.apply(_manifest_part("metadata")), self._plan.apply(_manifest_part("spec"))
            secret_metadata = self._plan.apply(_secret_metadata)
            if password is not None:
                user_data = pulumi.Output.all(checked, password).apply(
                    lambda both: cloud_init.user_data(both[0].vm.ssh_authorized_keys, both[1])
                )
        self._kind = kind
        if wiring.nad_resources:
            # Only a program that holds the NADs can read their generations; a consumer in another
            # language (NADs out of reach) gets VMs without the annotation, as the offline plan does.
            metadata, spec = _with_nad_generations(kind, metadata, spec, self._plan, checked_now, wiring.nad_generations)

        pushed_down = own_depends_on(opts)
        nad_resources = (
            [wiring.nad_resources[nad] for nad in checked_now.nad_configs if nad in wiring.nad_resources]
            if checked_now is not None
            else list(wiring.nad_resources.values())
        )
        depends_on: list[pulumi.Input[pulumi.Resource]] = [*nad_resources, *wiring.platform, *pushed_down]
        self.cloud_init_secret: k8s.core.v1.Secret | None = None
        if user_data is not None:
            secret_user_data: pulumi.Output[str] = pulumi.Output.secret(user_data)
            # The password stays out of the VM spec (readable by anyone who may read VMs) and out of
            # state in plain text: a Secret's data is kept secret by the provider, and the value is a
            # secret Output besides.
            self.cloud_init_secret = k8s.core.v1.Secret(
                f"{name}-cloud-init",
                metadata=secret_metadata,
                type="Opaque",
                string_data={"userdata": secret_user_data},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*wiring.namespace, *pushed_down]),
            )
            depends_on.append(self.cloud_init_secret)
        if kind == VMKind.VIRTUAL_MACHINE_INSTANCE:
            # The name is fixed, so the old VMI must go before the new one can be created.
            options = pulumi.ResourceOptions(
                parent=self,
                depends_on=depends_on,
                replace_on_changes=list(VMI_REPLACE_ON_CHANGES),
                delete_before_replace=True,
                provider=wiring.vmi_provider or vmi_provider(f"{name}-{VMI_PROVIDER_NAME}", parent=self),
            )
            suffix = "vmi"
        else:
            # The template is mutable: changes are updates, applied by KubeVirt at the next restart.
            options = pulumi.ResourceOptions(parent=self, depends_on=depends_on, delete_before_replace=True)
            suffix = "vm"
        self.vm_object = k8s.apiextensions.CustomResource(
            f"{name}-{suffix}", api_version="kubevirt.io/v1", kind=kind.value, metadata=metadata, spec=spec, opts=options
        )
        # Registered empty: a Python stack reports the VM through its `vms` output, the provider through
        # the outputs below, and a copy in every component's state would be rewritten into each
        # checkpoint (BENCHMARKS.md, state per VM).
        self.register_outputs({})

    def __getattr__(self, name: str) -> Any:
        """An output, made when it is first read: a stack reads none of them (it has its `vms` output), and making
        all of them up front cost a millisecond per VM. The provider host reads them all (``get_state``)."""
        if name not in _OUTPUTS or "_plan" not in self.__dict__:
            raise AttributeError(name)
        if name == "run_strategy" and self._kind == VMKind.VIRTUAL_MACHINE_INSTANCE:
            value: pulumi.Output[Any] | None = None
        else:
            value = self._plan.apply(_OUTPUTS[name])
        setattr(self, name, value)
        return value


_OUTPUTS: dict[str, Callable[[_Plan], Any]] = {
    "vm_name": lambda p: p.checked.vm.name,
    "namespace": lambda p: p.checked.namespace,
    "kind": lambda p: p.checked.vm.kind,
    "run_strategy": lambda p: p.checked.vm.effective_run_strategy,
    "macs": lambda p: p.outputs["macs"],
    "nads": lambda p: p.outputs["nads"],
    "virtctl": lambda p: {action: p.outputs[action] for action in ("console", *_actions(p.checked))},
    "on_change": lambda p: p.outputs["onChange"],
}


def _with_nad_generations(
    kind: VMKind,
    metadata: Any,
    spec: Any,
    plan: pulumi.Output[_Plan],
    checked_now: CheckedVm | None,
    generations: NadGenerations,
) -> tuple[Any, Any]:
    """The VM's metadata and spec with the generations of its NADs among the annotations its pod is made from."""
    if kind == VMKind.VIRTUAL_MACHINE_INSTANCE:
        return _annotate(metadata, (), plan, checked_now, generations), spec
    return metadata, _annotate(spec, ("template", "metadata"), plan, checked_now, generations)


def _annotate(
    part: Any, path: Sequence[str], plan: pulumi.Output[_Plan], checked_now: CheckedVm | None, generations: NadGenerations
) -> Any:
    """``part`` with the generations among the annotations at ``path``: known args keep a plain part around them."""
    if checked_now is None:
        reported = pulumi.Output.all(**{nad: generations.reported(nad) for nad in generations.nads})
        return pulumi.Output.all(part, plan, reported).apply(lambda resolved: _annotated_part(resolved[0], resolved[1], resolved[2], path))
    annotations = functools.reduce(lambda node, key: node[key], path, part)["annotations"]
    return _replaced(part, path, generations.annotations(annotations, list(checked_now.nad_configs)))


def _annotated_part(part: Any, plan: _Plan, reported: Mapping[str, Any], path: Sequence[str]) -> Any:
    used = list(plan.checked.nad_configs)
    annotations = functools.reduce(lambda node, key: node[key], path, part)["annotations"]
    return _replaced(part, path, annotated(annotations, used, [reported.get(nad) for nad in used]))


def _replaced(part: Mapping[str, Any], path: Sequence[str], annotations: Any) -> dict[str, Any]:
    """A copy of ``part`` with new annotations at ``path``, sharing every branch off the path (no deep copy per VM)."""
    if not path:
        return {**part, "annotations": annotations}
    return {**part, path[0]: _replaced(part[path[0]], path[1:], annotations)}


def _manifest_part(part: str) -> Callable[[_Plan], Any]:
    return lambda plan: plan.manifest[part]


def _user_data(name: str, keys: Sequence[str], password: str) -> str:
    """The user data that sets ``password``, once the password passed its rule (checked where it is a secret)."""
    if problems := password_problems(password):
        raise refusal(COMPONENT, name, problems)
    return cloud_init.user_data(keys, password)


def _vm_kind(name: str, value: Any) -> VMKind:
    try:
        return VMKind(value)
    except ValueError:
        allowed = " or ".join(repr(kind.value) for kind in VMKind)
        raise refusal(COMPONENT, name, [("kind", f"{value!r} is not allowed; input should be {allowed}")]) from None


def _checked(name: str, values: Any, has_password: bool, password: list[tuple[str, str]]) -> CheckedVm:
    """The checked VM, or the refusal of every problem, the password's (``password``) too."""
    vm, problems = check_vm(values, name, has_password=has_password)
    if password or problems or vm is None:
        raise refusal(COMPONENT, name, [*problems, *password])
    return vm


def _password_problems(given: Any, password: pulumi.Output[str] | None) -> pulumi.Output[list[tuple[str, str]]]:
    """The console password's problems, not secret (no message repeats it), so the check and the spec stay readable.

    Hosted, a password that is not a secret is refused too: it is in the consumer's state in plain text.
    """
    if password is None:
        return pulumi.Output.from_input([])
    problems = pulumi.Output.unsecret(password.apply(password_problems))
    if not hosted():
        return problems
    secret = pulumi.Output.from_input(given.is_secret() if isinstance(given, pulumi.Output) else False)
    return pulumi.Output.all(problems, secret).apply(lambda both: [*both[0], *([] if both[1] else [(PASSWORD_INPUT, SECRET_REQUIRED)])])


def _plan(stack: str, checked: CheckedVm, kind: VMKind, has_password: bool) -> _Plan:
    vm = checked.vm
    secret_name = cloud_init_secret_name(vm) if has_password else None
    build = vmi_manifest if kind == VMKind.VIRTUAL_MACHINE_INSTANCE else virtual_machine_manifest
    macs = {planned.interface: planned.mac for planned in plan_attachments(stack, vm)}
    manifest = build(stack, vm, checked.namespace, checked.nad_configs, secret_name)
    if kind == VMKind.VIRTUAL_MACHINE:
        # Applied server-side: it takes back a field edited by hand (ownership.py). A VMI goes through
        # the client-side-apply provider, where the annotation would do nothing.
        manifest["metadata"] = owned(manifest["metadata"])
    return _Plan(
        checked=checked,
        manifest=manifest,
        secret_metadata=owned(cloud_init_secret_manifest(vm, checked.namespace, None)["metadata"]) if has_password else None,
        outputs=vm_outputs(vm, checked.namespace, macs),
    )


def _secret_metadata(plan: _Plan) -> Any:
    return plan.secret_metadata


def _actions(checked: CheckedVm) -> tuple[str, ...]:
    return () if checked.vm.kind == VMKind.VIRTUAL_MACHINE_INSTANCE else VIRTCTL_ACTIONS[checked.vm.effective_run_strategy]
