"""Local tooling: the stack of `make run`, the provider sandbox, `make invoke`, `make bench`, the OpenAPI document.

Importing it puts the shared layer on sys.path, as /opt/python is on Lambda, so local tooling reads the layer's
provider registry and runs the real handlers.
"""

import sys
from pathlib import Path

LAYER_DIR = Path(__file__).resolve().parents[1] / "layers" / "gateway"
if str(LAYER_DIR) not in sys.path:
    sys.path.insert(0, str(LAYER_DIR))
