"""The component package: the components other languages get through ``pulumi package add``, and its provider host.

``kvm_in_a_pod/`` is the plugin directory (``PulumiPlugin.yaml``, ``runtime: python``): the
Python language host runs it as ``python <plugin dir> <engine address>``, executing its
``__main__.py`` (pulumi-language-python, ``RunPlugin``), which calls ``serve``. There
``component_provider_host`` (pulumi.provider.experimental, SDK 3.272) infers the schema from the
components' Args types and serves ``GetSchema`` and ``Construct`` (pulumi/provider/server.py).

The version is the project's (``pyproject.toml``, ``[project] version``): a release is tagged
``v<version>``, which is what ``pulumi package add <repository>.git/kvm_in_a_pod@v<version>``
checks out (sdk/go/common/workspace/plugins.go, ``gitSource.Download``: refs/tags/v<version>).
"""

import importlib.metadata
import tomllib
from pathlib import Path

from pulumi import ComponentResource
from pulumi.provider.experimental import component_provider_host
from pulumi.provider.experimental.component import ComponentProvider

from components.interface import refuse_as_input_properties
from components.macvtap_networks import MacvtapNetworks
from components.macvtap_vm import MacvtapVM

# The schema's package name, hence the type tokens: kvm-in-a-pod:index:MacvtapVM.
PACKAGE = "kvm-in-a-pod"
COMPONENTS: list[type[ComponentResource]] = [MacvtapVM, MacvtapNetworks]
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def version() -> str:
    """The project's version: its pyproject.toml in a checkout (the plugin runs from source), else the installed distribution's."""
    if PYPROJECT.is_file():
        return str(tomllib.loads(PYPROJECT.read_text())["project"]["version"])
    return importlib.metadata.version(PACKAGE)


def component_provider() -> ComponentProvider:
    """The provider the host serves, with the schema it infers (what ``pulumi package get-schema`` prints)."""
    return ComponentProvider(COMPONENTS, PACKAGE, None, version())


def serve() -> None:
    """Host the components for the engine until it stops the plugin."""
    refuse_as_input_properties()
    component_provider_host(COMPONENTS, PACKAGE, None, version())
