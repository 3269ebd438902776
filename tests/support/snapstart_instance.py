"""One function's instance as Lambda SnapStart makes it, in a fresh interpreter: the handler imported with Lambda's
runtime hook library on sys.path, its before-snapshot hooks run (the snapshot), then restored instances.

    snapstart_instance.py <code dir> <module> snapshot            what the snapshot holds, every connection tried
    snapstart_instance.py <code dir> <module> snapshot-container  the same, the role's credentials served as Lambda
        serves them under SnapStart (its container credentials endpoint, here on the loopback server), not in the
        environment: every read of them counted
    snapstart_instance.py <code dir> <module> restore|no-restore  a connection left open at the snapshot, then two
        instances forked from it (a restore copies the snapshot's memory, as a fork does), each running the
        after-restore hooks or not: what each draws and holds

Run with the function's environment (`environment` below): every AWS endpoint and provider on a port of 127.0.0.1
that nothing serves; whatever the snapshot tries to reach is recorded and refused.
"""

import io
import json
import os
import random
import socket
import socketserver
import sys
import threading
import time
import warnings
from contextlib import redirect_stdout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread, main_thread

ROOT = Path(__file__).resolve().parents[2]
LAYER, RUNTIME_HOOKS = ROOT / "layers" / "gateway", ROOT / "bench" / "lambda_runtime"
NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing serves it


def environment(logical_id: str, template: dict) -> dict[str, str]:
    """The function's environment from the template (the caller's, loaded with project.template), every endpoint
    pointing nowhere, and what Lambda adds to it."""
    from project import template as cfn

    names = {name: f"kyc-gateway-local-{name}" for name in cfn.resources(template)}
    parameters = {"Environment": "local"} | {name: NOWHERE for name in template["Parameters"] if "BaseUrl" in name}
    own = cfn.function_environment(logical_id, names, parameters, template)
    lambda_runtime = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "key"}
    return own | lambda_runtime | {"AWS_ENDPOINT_URL": NOWHERE}


class LoopbackServer(ThreadingHTTPServer):
    def server_bind(self) -> None:  # without HTTPServer's reverse DNS lookup of its own address
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


CREDENTIALS_PATH = "/2018-06-01/credentials"  # where Lambda's container credentials endpoint serves them
CREDENTIAL_READS: list[str] = []


class KeepAlive(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b"{}"
        if self.path == CREDENTIALS_PATH:
            CREDENTIAL_READS.append(self.headers.get("Authorization", ""))
            expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
            role = {
                "AccessKeyId": "ASIAROLE",
                "SecretAccessKey": "role-key",
                "Token": "role-session",
                "Expiration": expires,
            }
            body = json.dumps(role).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def refuse_connections(tried: list[object], allowed: tuple[str, int]) -> None:
    connect = socket.socket.connect

    def refusing(sock: socket.socket, address: object) -> None:
        if address != allowed:
            tried.append(address)
            raise ConnectionRefusedError(f"nothing may be reached from here: {address}")
        connect(sock, address)

    socket.socket.connect = refusing


def main() -> None:
    warnings.simplefilter("ignore", DeprecationWarning)  # forking beside the keep-alive server's thread: no lock held
    code_dir, module, mode = sys.argv[1:]
    server = LoopbackServer(("127.0.0.1", 0), KeepAlive)
    Thread(target=server.serve_forever, daemon=True).start()
    tried: list[object] = []
    refuse_connections(tried, server.server_address)
    if mode == "snapshot-container":
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            del os.environ[name]
        host, port = server.server_address[:2]
        os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = f"http://{host}:{port}{CREDENTIALS_PATH}"
        os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "lambda-given"
        for name in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):  # as on Lambda: no profile files
            os.environ[name] = os.devnull
    sys.path[:0] = [code_dir, str(LAYER), str(RUNTIME_HOOKS)]
    __import__(module)
    import snapshot_restore_py as runtime

    from kyc_gateway import snapstart

    logged = io.StringIO()
    with redirect_stdout(logged):
        runtime.take_snapshot()
    (primed,) = [json.loads(line) for line in logged.getvalue().splitlines() if '"snapshot primed"' in line]
    if mode.startswith("snapshot"):
        from kyc_gateway import aws

        def errors_loaded(client: object) -> bool:  # botocore's index, built on a first error answer otherwise
            return "_error_code_cache" in vars(client.meta.service_model)

        registered = [len(runtime.get_before_snapshot()), len(runtime.get_after_restore())]
        errors = [s for s in primed["aws_clients"] if errors_loaded(aws.client(s))]
        errors += [f"{s} (quick)" for s in primed["quick_aws_clients"] if errors_loaded(aws.quick_client(s))]
        found = {"registered": registered, "primed": primed, "connections": [str(a) for a in tried]}
        found["threads"] = sorted(thread.name for thread in threading.enumerate() if thread is not main_thread())
        found["credential_reads"] = CREDENTIAL_READS
        print(json.dumps(found | {"errors_loaded": errors}))
        return
    provider = snapstart.provider_client(primed["provider"])
    url = "http://{}:{}/".format(*server.server_address)
    provider.http.session.get(url, timeout=5)  # a connection the snapshot would hold, had init opened one
    snapshot_random = random.getstate()
    instances = []
    for _ in range(2):
        read, write = os.pipe()
        if os.fork() == 0:
            os.close(read)
            random.setstate(snapshot_random)  # a fork reseeds `random` (CPython's at-fork hook); a restore does not
            if mode == "restore":
                runtime.restore()
            drawn = {
                "jitter": [random.random() for _ in range(3)],
                "lease_owner": provider.tokens._owner,  # whom the token table's lease names
                "pools": len(provider.http.session.get_adapter(url).poolmanager.pools),
            }
            os.write(write, json.dumps(drawn).encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as pipe:
            instances.append(json.loads(pipe.read()))
        os.wait()
    print(json.dumps({"instances": instances}))


if __name__ == "__main__":
    main()
