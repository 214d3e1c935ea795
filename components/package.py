"""The component package: the components other languages get through ``pulumi package add``, and its provider host.

``kvm_in_a_pod/`` is the plugin directory (``PulumiPlugin.yaml``, ``runtime: python``): the
Python language host runs it as ``python <plugin dir> <engine address>``, executing its
``__main__.py`` (pulumi-language-python, ``RunPlugin``), which calls ``serve``. There
``component_provider_host`` (pulumi.provider.experimental, SDK 3.272) infers the schema from the
components' Args types and serves ``GetSchema`` and ``Construct`` (pulumi/provider/server.py).

The version is the project's (``pyproject.toml``, ``[project] version``): a release is tagged
``v<version>``, which is what ``pulumi package add <repository>.git/kvm_in_a_pod@v<version>``
checks out (sdk/go/common/workspace/plugins.go, ``gitSource.Download``: refs/tags/v<version>).
Bump it with every change of the schema: a language host keeps a package's schema by version
(the YAML host went on refusing a new input of a changed provider of the same version).

What this rests on that Pulumi marks experimental (``pulumi.provider.experimental``, SDK 3.272),
and what breaks if it changes:

- ``component_provider_host`` and ``ComponentProvider(components, name, namespace, version)``:
  their names and signatures; this module and tests/test_component_schema.py call them.
- Schema inference (analyzer.py): the ``args`` parameter's TypedDict, a docstring after each field
  as its description (read from the source with ``ast``), ``NotRequired`` for optional, an Enum
  for an enum, a field outside ``pulumi.Input`` as plain, ``camel_case`` of Python names. A change
  changes the schema, so the generated SDKs; the schema test fails first.
- Input mapping (component.py, ``map_input_properties``): it maps the nested keys of a plain input
  and passes an Output on unmapped, so the args are named in camelCase (components/interface.py),
  and a typed object input cannot come from another resource (it maps the Output as ``{}`` and
  reports "Missing required input 'plat.networks'", seen with a StackReference): so a
  MacvtapNetworks takes the export's ``networks`` map, not the export.
- Refusals: ``construct`` wraps an exception raised in ``__init__`` into a message with a stack
  trace (``ComponentInitError``), so hosted components never raise there; they refuse through
  their outputs, which the provider server awaits before it answers Construct, and an
  ``InputPropertiesError`` there becomes one line per property (server.py, ``Construct``). If the
  server stopped awaiting the outputs, a refusal would still stop the children (their inputs
  fail), with a less clear message.
- Config: ``Construct`` sets the consumer stack's config (``set_all_config``), from which a VMI's
  own client-side-apply provider is made (components/vmi_provider.py).
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
