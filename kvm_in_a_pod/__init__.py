"""kvm-in-a-pod for your own Pulumi program: ``MacvtapNetworks`` (a set of VMs' shared NADs) and ``MacvtapVM``.

    from kvm_in_a_pod import MacvtapNetworks, MacvtapVM

Other languages get the same components through ``pulumi package add`` of this directory, which
is the component package's plugin directory too (``PulumiPlugin.yaml``, ``__main__.py``). README,
"Use from your own program".
"""

from components.config import RunStrategy, VMKind
from components.interface import MacvtapNic
from components.macvtap_networks import MacvtapNetworks, MacvtapNetworksArgs
from components.macvtap_vm import MacvtapVM, MacvtapVMArgs, MacvtapVMWiring
from components.package import version
from components.platform_export import MacvtapNetwork

__all__ = [
    "MacvtapNetwork",
    "MacvtapNetworks",
    "MacvtapNetworksArgs",
    "MacvtapNic",
    "MacvtapVM",
    "MacvtapVMArgs",
    "MacvtapVMWiring",
    "RunStrategy",
    "VMKind",
    "version",
]
