"""Where the project's parts live, for its tools (the local stack, the generators, the build steps, the benchmark,
mutation testing). Importing it puts the shared layer on sys.path, as /opt/python is on Lambda, so the tools import
`kyc_gateway` and run the real handlers."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER_DIR = ROOT / "layers" / "gateway"
if str(LAYER_DIR) not in sys.path:
    sys.path.insert(0, str(LAYER_DIR))
