"""`python -m local.sandbox`: run the provider sandbox until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from local.sandbox import ProviderSandbox
from local.stopping import hold_stop_signals, wait_for_stop

DEFAULT_PORT = 4010
DEFAULT_SECRETS = Path(__file__).resolve().parents[1] / "secrets.local.json"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.sandbox", description="Local sandbox for the providers of the provider registry."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"0 picks a free port (default {DEFAULT_PORT})")
    parser.add_argument("--secrets", type=Path, default=DEFAULT_SECRETS, help="JSON with a section per provider")
    for option in ProviderSandbox.options():
        flag = "--" + option.name.replace("_", "-")
        if option.kind is bool:
            parser.add_argument(flag, action="store_true", help=option.help)
        else:
            kind, default, choices = option.kind, option.default, option.choices
            parser.add_argument(flag, type=kind, default=default, choices=choices, help=f"{option.help} ({default})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    credentials = json.loads(args.secrets.read_text(encoding="utf-8"))
    options = {option.name: getattr(args, option.name) for option in ProviderSandbox.options()}
    hold_stop_signals()
    sandbox = ProviderSandbox(credentials, args.host, args.port, **options).start()
    print(f"provider sandbox ready at {sandbox.url}", flush=True)
    try:
        wait_for_stop()
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
