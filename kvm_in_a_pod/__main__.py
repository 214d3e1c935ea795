"""The component provider: what the Python language host runs for ``pulumi package add`` and for a consumer's program.

It runs ``python <this directory> <engine address>`` (pulumi-language-python, ``RunPlugin``), so
``sys.path[0]`` is this directory, not the checkout that holds ``components``: the checkout goes
first. Installed with pip, ``python -m kvm_in_a_pod`` runs the same host.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.package import serve  # after the checkout is on the path

serve()
