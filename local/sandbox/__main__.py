"""`python -m local.sandbox`: run the provider sandbox until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from local.sandbox import ProviderSandbox

DEFAULT_PORT = 4010
DEFAULT_SECRETS = Path(__file__).resolve().parents[1] / "secrets.local.json"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.sandbox", description="Local sandbox for the connectFi, Signzy, Cladfy and CDP APIs."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"0 picks a free port (default {DEFAULT_PORT})")
    parser.add_argument("--secrets", type=Path, default=DEFAULT_SECRETS, help="JSON with cladfy/signzy/cdp/connectfi")
    parser.add_argument("--slow-seconds", type=float, default=30.0, help="how long the 'slow' magic inputs hang")
    parser.add_argument("--cdp-token-ttl", type=int, default=7199, help="CDP access token lifetime (s)")
    parser.add_argument("--cdp-refresh-ttl", type=int, default=7199, help="CDP refresh token lifetime (s)")
    parser.add_argument("--connectfi-token-ttl", type=int, default=3600, help="connectFi token lifetime (s)")
    parser.add_argument("--signzy-token-ttl", type=int, default=1209600, help="Signzy login token ttl (s)")
    parser.add_argument(
        "--signzy-auth-header", choices=("raw", "bearer"), default="raw", help="the one Authorization form accepted"
    )
    parser.add_argument("--webhook-delay", type=float, default=1.0, help="connectFi ASYNC review delay (s)")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    credentials = json.loads(args.secrets.read_text(encoding="utf-8"))
    sandbox = ProviderSandbox(
        credentials,
        args.host,
        args.port,
        slow_seconds=args.slow_seconds,
        cdp_token_ttl=args.cdp_token_ttl,
        cdp_refresh_ttl=args.cdp_refresh_ttl,
        connectfi_token_ttl=args.connectfi_token_ttl,
        signzy_token_ttl=args.signzy_token_ttl,
        signzy_auth_header=args.signzy_auth_header,
        webhook_delay=args.webhook_delay,
        quiet=args.quiet,
    ).start()
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    print(f"provider sandbox ready at {sandbox.url}", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
