"""The Kubernetes provider the VMIs are registered with: client-side apply, else the same cluster.

Found by running the real engine against an API server that refuses VMI spec updates as
virt-api does: a VMI replacement (a spec change) failed already in `pulumi preview`, and so in
`pulumi up`, which previews first. In server-side-apply mode the kubernetes provider previews a
replacement's create as a dry-run apply under the same fixed name; the API server sees an
update of the live VMI, and virt-api refuses it ("update of VMI object is restricted"). The
provider works around that only for errors saying "field is immutable"
(pulumi-kubernetes#3053, provider/pkg/await/await.go), which KubeVirt's does not. In
client-side-apply mode the provider skips the preview of a create
(provider/pkg/provider/provider.go, Create: "skipPreview ... !k.serverSideApplyMode"), and the
real `up` deletes the old VMI before it creates the new one (delete-before-replace), so
nothing ever asks the API server to update a VMI's spec.

Only the VMIs use this provider; everything else keeps the default (server-side apply). An
explicit provider does not read the `kubernetes:` stack config the default provider reads,
so the settings that choose the cluster or the output are passed on; the kubeconfig stays a
secret.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

# The default provider's stack config keys that decide where objects go (pulumi-kubernetes
# provider config): they must mean the same for the VMIs.
PASSED_ON = ("context", "cluster", "renderYamlToDirectory", "deleteUnreachable", "skipUpdateUnreachable")
RESOURCE_NAME = "vmi-client-side-apply"


def vmi_provider(resource_name: str = RESOURCE_NAME, parent: pulumi.Resource | None = None) -> k8s.Provider:
    """The provider, from the stack's ``kubernetes:`` config: a stack's VMIs share one; a MacvtapVM that is given none
    makes its own (``parent`` it), reading the config of the consumer's stack, which the component provider is given
    with each Construct (pulumi/provider/server.py, ``set_all_config``)."""
    config = pulumi.Config("kubernetes")
    kubeconfig = config.get_secret("kubeconfig")
    delete_unreachable = config.get_bool("deleteUnreachable")
    skip_update_unreachable = config.get_bool("skipUpdateUnreachable")
    return k8s.Provider(
        resource_name,
        enable_server_side_apply=False,
        kubeconfig=kubeconfig,
        context=config.get("context"),
        cluster=config.get("cluster"),
        render_yaml_to_directory=config.get("renderYamlToDirectory"),
        delete_unreachable=delete_unreachable,
        skip_update_unreachable=skip_update_unreachable,
        opts=pulumi.ResourceOptions(parent=parent),
    )
