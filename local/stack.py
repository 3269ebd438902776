"""`make run`: the whole gateway on 127.0.0.1 without Docker.

- AWS (DynamoDB, SQS, Secrets Manager) is moto's server, with every table, queue and secret created from
  template.yaml and the secrets seeded from a local secrets file (committed fakes by default);
- providers default to the local sandbox (local/sandbox/); `<PROVIDER>_BASE_URL` points one elsewhere;
- API Gateway is local/api_server.py (routes from the template's Api events), running the real handlers
  in-process with the functions' environment from the template;
- SQS-triggered functions are fed by local/sqs_poller.py, DynamoDB-stream-triggered ones (the audit archive) by
  local/stream_poller.py.
"""

from __future__ import annotations

import errno
import faulthandler
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kyc_gateway.registry import FUNCTIONS, PROVIDERS
from kyc_gateway.settings import CIRCUIT_FAILURES_MAX
from local.api_server import ApiServer, routes_of
from local.atomic_emulator import MotoServer
from local.aws_resources import REGION, load_local_secrets, provision
from local.functions import cold_start, invoke
from local.sandbox import ProviderSandbox
from local.scheduler import Scheduler, rate_seconds, schedule_expressions
from local.sqs_poller import SqsPoller, event_source_options
from local.state import remove_state_if_ours, running_stack, write_state
from local.stopping import hold_stop_signals, wait_for_stop
from local.stream_poller import LAMBDA_DEFAULT_BATCH_SIZE, StreamPoller
from project import template as cfn

# template parameter <- environment variable that overrides it (and the sandbox's default for it), per provider
BASE_URL_PARAMETERS = {entry.base_url_parameter: entry.base_url_variable for entry in PROVIDERS}

# environment variable -> the sandbox option it sets (SANDBOX_SLOW_SECONDS, SANDBOX_CDP_TOKEN_TTL, ...): every option
# the sandbox and its providers declare
SANDBOX_OPTIONS = {option.variable: option for option in ProviderSandbox.options() if option.name != "quiet"}

# The helpers' ports: a taken default one is replaced by a free one. The API's port never moves: callers, the docs
# and events/env.json name it, so a taken one is an error naming it.
MOVABLE_PORTS = ("AWS_EMULATOR_PORT", "SANDBOX_PORT")

STOP_REPORT_SECONDS = 10


@dataclass
class StackConfig:
    host: str = "127.0.0.1"
    api_port: int = 3000
    aws_port: int = 4566
    sandbox_port: int = 4010
    # Ports the user chose: when a default port is taken (another mock server on 4010, say), a free one is used.
    explicit_ports: frozenset[str] = frozenset()
    secrets_file: Path = field(default_factory=lambda: cfn.ROOT / "local" / "secrets.local.json")
    overrides: dict[str, str] = field(default_factory=dict)  # provider base URLs, PUBLIC_BASE_URL, RECONCILE_...
    schedule_seconds: float | None = None  # every scheduled function's period (default: the template's rate)
    sandbox_options: dict[str, Any] = field(default_factory=dict)  # ProviderSandbox keyword arguments

    @classmethod
    def from_environment(cls, environ: dict[str, str]) -> StackConfig:
        names = [
            *BASE_URL_PARAMETERS.values(),
            "PUBLIC_BASE_URL",
            "CONNECTFI_WEBHOOK_HOSTS",  # callback hosts a caller may name besides the local API's own (none by default)
            "RECONCILE_AFTER_SECONDS",
            "RECONCILE_MAX_AGE_SECONDS",
            "WEBHOOK_RETRY_BASE_SECONDS",
            # the gateway's readings of what its providers leave open, to match the sandbox's SANDBOX_* readings
            "CONNECTFI_WEBHOOK_FIELD",
            "SIGNZY_AUTH_HEADER",
            "SIGNZY_ONBOARDING_ID_FIELD",
        ]
        return cls(
            # Docker on Linux reaches the host at its bridge address, not 127.0.0.1 (docs/local-stack.md)
            host=environ.get("LOCAL_BIND_HOST", cls.host),
            api_port=int(environ.get("API_PORT", 3000)),
            aws_port=int(environ.get("AWS_EMULATOR_PORT", 4566)),
            sandbox_port=int(environ.get("SANDBOX_PORT", 4010)),
            explicit_ports=frozenset(name for name in MOVABLE_PORTS if environ.get(name)),
            secrets_file=Path(environ.get("LOCAL_SECRETS_FILE", cls().secrets_file)),
            overrides={name: environ[name] for name in names if environ.get(name)},
            schedule_seconds=float(environ["LOCAL_SCHEDULE_SECONDS"])
            if environ.get("LOCAL_SCHEDULE_SECONDS")
            else None,
            sandbox_options={
                option.name: option.kind(environ[variable])
                for variable, option in SANDBOX_OPTIONS.items()
                if environ.get(variable)
            },
        )


class PortUnavailable(OSError):
    """A port the stack cannot listen on, named with the variable that sets it."""

    def __init__(self, port: int, variable: str, error: OSError) -> None:
        if error.errno == errno.EADDRINUSE:
            holder = running_stack()
            by = f" by the local stack of process {holder['pid']}" if holder and _serves_on(holder, port) else ""
            message = (
                f"port {port} ({variable}) is already in use{by}; stop what holds it, or set {variable} to a free port"
            )
        else:
            reason = error.strerror or error
            message = f"cannot listen on port {port} ({variable}): {reason}; set {variable} to another port"
        super().__init__(message)
        self.errno = error.errno


def _serves_on(state: dict[str, Any], port: int) -> bool:
    return any(str(state.get(service, "")).endswith(f":{port}") for service in ("api", "aws", "sandbox"))


def _on_port[T](start: Callable[[int], T], port: int, variable: str, config: StackConfig) -> T:
    """`start(port)`; when that is a helper's default port and it is taken, a free port instead (said on stderr).
    Otherwise a port that cannot be used is a `PortUnavailable` naming it."""
    try:
        return start(port)
    except OSError as error:
        if variable not in MOVABLE_PORTS or variable in config.explicit_ports or port == 0:
            raise PortUnavailable(port, variable, error) from error
        print(f"port {port} is taken: using a free one (set {variable} to choose)", file=sys.stderr)
        return start(0)


class SecretUnusable(ValueError):
    """A `<NAME>_SECRET_JSON` the stack cannot use, named by its variable (its value is never shown)."""


def local_secrets(path: Path, environ: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The secrets file, with any section replaced by `<NAME>_SECRET_JSON` from the environment (real sandbox
    credentials that should not sit in a file): a JSON object, with at least the fields of the section it replaces
    for a provider (whose sandbox reads them at start)."""
    secrets = load_local_secrets(path)
    providers = {entry.name for entry in PROVIDERS}
    for name in list(secrets):
        variable = f"{name.upper()}_SECRET_JSON"
        if not environ.get(variable):
            continue
        try:
            supplied = json.loads(environ[variable])
        except ValueError as error:
            message = f"{variable} is not JSON ({error}): give the {name} section as a JSON object"
            raise SecretUnusable(message) from None
        if not isinstance(supplied, dict):
            raise SecretUnusable(f"{variable} is not a JSON object: give the {name} section as one")
        missing = sorted(set(secrets[name]) - set(supplied)) if name in providers else []
        if missing:
            raise SecretUnusable(f"{variable} lacks {', '.join(missing)} (the fields of the {name} section of {path})")
        secrets[name] = supplied
    return secrets


class LocalStack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.api: ApiServer | None = None
        self._stoppers: list[Any] = []

    def start(self) -> LocalStack:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the emulator's request lines are noise here
        config = self.config
        functions = cfn.functions()
        secrets = local_secrets(config.secrets_file, os.environ)  # one it cannot use stops the start before any port
        # The API's port first: it never moves, so when it is taken nothing else is started.
        self.api = _on_port(
            lambda port: ApiServer(routes_of(functions), invoke, config.host, port), config.api_port, "API_PORT", config
        )  # bound, not serving yet: its URL is known
        moto = _on_port(lambda port: MotoServer(config.host, port), config.aws_port, "AWS_EMULATOR_PORT", config)
        moto.start()
        self._stoppers.append(moto.stop)
        self.aws_url = moto.url
        # The functions run in this process: their boto3 clients go to the emulator, with fake credentials.
        os.environ.update(
            AWS_ENDPOINT_URL=self.aws_url,
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",
            AWS_DEFAULT_REGION=REGION,
        )
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(name, None)

        self.sandbox = _on_port(
            lambda port: ProviderSandbox(secrets, config.host, port, quiet=True, **config.sandbox_options).start(),
            config.sandbox_port,
            "SANDBOX_PORT",
            config,
        )
        self._stoppers.append(self.sandbox.stop)

        import boto3

        self.session = boto3.session.Session(region_name=REGION)
        parameters = {"Environment": "local"}
        sandbox_urls = self.sandbox.base_urls()
        declared = cfn.load().get("Parameters") or {}
        for parameter, variable in BASE_URL_PARAMETERS.items():
            if parameter in declared:
                parameters[parameter] = config.overrides.get(variable, sandbox_urls[variable])
        if "PublicBaseUrl" in declared:
            parameters["PublicBaseUrl"] = config.overrides.get("PUBLIC_BASE_URL", self.api.url)
        self.physical_ids = provision(self.session, secrets, parameters)

        environment = {}
        for logical_id in functions:
            environment |= cfn.function_environment(logical_id, self.physical_ids, parameters)
        # The overrides apply even to functions whose template parameter does not exist (yet); the functions reach
        # the emulator, whatever the template declares for AWS_ENDPOINT_URL (empty, for `sam local invoke`).
        environment |= config.overrides | {"AWS_ENDPOINT_URL": self.aws_url}
        environment.setdefault("PUBLIC_BASE_URL", self.api.url)
        # One process stands in for every instance of every function, so a provider's circuit here counts all their
        # failures together (a run through the sandbox's failure inputs is no outage): it opens only after the most
        # failures the setting allows.
        circuit_failures = os.environ.get("PROVIDER_CIRCUIT_FAILURES") or str(CIRCUIT_FAILURES_MAX)
        environment.setdefault("PROVIDER_CIRCUIT_FAILURES", circuit_failures)
        os.environ.update(environment)
        self.environment = environment
        cold_start()
        self.api.start()

        for poller in [*self._sqs_pollers(functions), *self._stream_pollers(functions)]:
            poller.start()
            self._stoppers.append(poller.stop)
        values = cfn.parameter_values(parameters) | self.physical_ids
        for spec in functions.values():
            for expression in schedule_expressions(spec, values):
                period = self.config.schedule_seconds or rate_seconds(expression)
                self._stoppers.append(Scheduler(spec, period, invoke).start().stop)
        self._write_state()
        return self

    def stop(self) -> None:
        """The API first (no new request reaches the functions), then the rest in the reverse order of starting;
        the state file only if this process wrote it."""
        stoppers, self._stoppers = self._stoppers + ([self.api.stop] if self.api else []), []
        while stoppers:
            stop = stoppers.pop()
            try:
                stop()
            except Exception as error:  # noqa: BLE001 - stop everything else regardless
                print(f"while stopping: {type(error).__name__}", file=sys.stderr)
        remove_state_if_ours()

    def _sqs_pollers(self, functions: dict[str, cfn.FunctionSpec]) -> list[SqsPoller]:
        sqs = self.session.client("sqs")
        values = cfn.parameter_values({"Environment": "local"}) | self.physical_ids
        pollers = []
        for spec in functions.values():
            for event in (spec.properties.get("Events") or {}).values():
                if event.get("Type") != "SQS":
                    continue
                properties = event["Properties"]
                queue_arn = cfn.resolve(properties["Queue"], values)
                queue_url = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"]
                pollers.append(
                    SqsPoller(
                        sqs,
                        spec,
                        queue_url,
                        queue_arn,
                        **event_source_options(properties),
                        invoke=invoke,
                    )
                )
        return pollers

    def _stream_pollers(self, functions: dict[str, cfn.FunctionSpec]) -> list[StreamPoller]:
        streams = self.session.client("dynamodbstreams")
        values = cfn.parameter_values({"Environment": "local"}) | self.physical_ids
        return [
            StreamPoller(
                streams,
                spec,
                cfn.resolve(event["Properties"]["Stream"], values),
                batch_size=int(event["Properties"].get("BatchSize", LAMBDA_DEFAULT_BATCH_SIZE)),
                starting_position=event["Properties"]["StartingPosition"],
                invoke=invoke,
            )
            for spec in functions.values()
            for event in (spec.properties.get("Events") or {}).values()
            if event.get("Type") == "DynamoDB"
        ]

    def _write_state(self) -> None:
        """Where the running stack's services are, for `make invoke` and developers' tools."""
        write_state(
            {"api": self.api.url, "aws": self.aws_url, "sandbox": self.sandbox.url, "environment": self.environment}
        )


def try_request(api: str) -> str:
    """A curl of the first read route calling a provider, with its sample event's body (it succeeds here)."""
    function = next(f for f in FUNCTIONS if f.provider and f.method == "POST" and not f.write and not f.public)
    body = json.loads((cfn.ROOT / "events" / f"{function.logical_id}.json").read_text())["body"]
    return f"curl -s -X POST {api}{function.path} -H 'Content-Type: application/json' -d '{body}'"


def main() -> int:
    hold_stop_signals()  # before any thread starts: a stop during the start takes effect once it is done
    stack = LocalStack(StackConfig.from_environment(dict(os.environ)))
    try:
        stack.start()
    except (OSError, SecretUnusable) as error:
        print(f"local stack could not start: {error}", file=sys.stderr)
        stack.stop()
        return 1
    api = stack.api.url
    print(
        f"KYC gateway local stack ready at {api} (AWS emulator {stack.aws_url}, provider sandbox "
        f"{stack.sandbox.url}). Ctrl-C stops it.",
        flush=True,
    )
    print(f"  try: {try_request(api)}", flush=True)
    wait_for_stop()
    # A stop that hangs says where: every thread's stack on stderr after 10 s (still armed while the interpreter
    # exits, which waits for any thread that is not a daemon).
    faulthandler.dump_traceback_later(STOP_REPORT_SECONDS)
    stack.stop()
    print("local stack stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
