"""`make smoke ENV=dev|prod|local`: prove a deployed stack refuses what it must and serves what it should.

Refusals. Every route of openapi.json gets one request that the gateway must refuse on its own (no provider is
reached, nothing is written):

- each signed POST route: a body that is not a JSON object, answered 400 `validation_error` by the function
  (API Gateway accepted the SigV4 signature, the alias runs, the layer imports, the envelope is right);
- the signed application read: an unknown application id, 404 `application_not_found` (the function may read its
  table);
- the webhook route: a wrong token, 401 `invalid_webhook_token` (the webhook secret is readable);
- one signed route without a signature: 401 `not_authenticated` from API Gateway (IAM is enforced).

Successes. Each provider with a read-only operation gets one valid, signed request with ENV's test identifiers
(smoke.toml, or SMOKE_IDENTIFIERS): 200 and the provider's success body expected, so a stack whose valid requests
all fail (a wrong provider URL or credentials) fails too. A provider without identifiers for ENV is skipped, said
so; --refusals-only sends none. Identifiers are never printed.

The API's URL is the stack's `ApiUrl` output (stack and region from samconfig.toml's section for ENV), the running
`make run` for ENV=local (which checks no IAM: the unsigned probe is skipped), or --api-url.
Credentials are the usual AWS ones (in CI, the OIDC role). Exits 1 naming every route that answered otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tomllib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from kyc_gateway.registry import PROVIDERS, ProviderEntry, SmokeRead
from local.state import no_running_stack, running_stack
from operations.samconfig import deployment

ROOT = Path(__file__).resolve().parents[1]
IDENTIFIERS = ROOT / "smoke.toml"
IDENTIFIERS_VARIABLE = "SMOKE_IDENTIFIERS"  # a JSON object, {"<provider>": {...}}: replaces smoke.toml's entries
TIMEOUT_SECONDS = 35  # above API Gateway's 29 s: a slow cold start is the gateway's to report, not ours


UNSIGNED_REFUSAL = "not_authenticated"  # API Gateway's answer to the unsigned probe (IAM enforced)
# The unsigned probe's route, fixed: the first signed route in path order would move whenever a provider's route
# sorts first. The audit search is signed in every deployment and is no provider's.
UNSIGNED_PROBE = ("POST", "/audit/search")


@dataclass(frozen=True)
class Probe:
    method: str
    path: str
    signed: bool
    body: bytes | None
    status: int
    expected: str  # what the answer must be, in words: an error code, or a provider's success body
    matches: Callable[[dict[str, Any]], bool]  # the answer's JSON object is what is expected


def refusal(method: str, path: str, *, signed: bool, body: bytes | None, status: int, code: str) -> Probe:
    return Probe(method, path, signed, body, status, code, lambda answer: _error_code(answer) == code)


@dataclass(frozen=True)
class ReadOperation:
    """A provider's read-only route (the registry's smoke read), the body fields its test identifiers fill, and its
    success body."""

    provider: str
    path: str
    fields: tuple[str, ...]
    success: str
    is_success: Callable[[dict[str, Any], dict[str, str]], bool]  # (answer, identifiers asked)

    @classmethod
    def of(cls, provider: ProviderEntry, read: SmokeRead) -> ReadOperation:
        shown = ", ".join(f"{field}: {json.dumps(value)}" for field, value in read.expect)
        echoed = f", data of the {read.echo} asked" if read.echo else ", a data object"
        return cls(
            provider.name,
            read.path,
            read.fields,
            f"{provider.label}'s success ({shown}{echoed})",
            lambda answer, asked: _succeeded(read, answer, asked),
        )

    def probe(self, asked: dict[str, str]) -> Probe:
        body = json.dumps({field: asked[field] for field in self.fields}).encode()
        return Probe("POST", self.path, True, body, 200, self.success, lambda answer: self.is_success(answer, asked))


def _matches(value: Any, expected: str | bool) -> bool:
    if isinstance(expected, bool):
        return value is expected
    return isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) == expected


def _succeeded(read: SmokeRead, answer: dict[str, Any], asked: dict[str, str]) -> bool:
    data = answer.get("data")
    if not isinstance(data, dict) or not all(_matches(answer.get(field), value) for field, value in read.expect):
        return False
    return read.echo is None or data.get(read.echo) == asked[read.echo]


# The gateway passes each provider's success body through unchanged (docs/providers/*.md).
READ_OPERATIONS = tuple(ReadOperation.of(entry, entry.smoke_read) for entry in PROVIDERS if entry.smoke_read)


def _signed(operation: dict[str, Any]) -> bool:
    return any("sigv4" in requirement for requirement in operation.get("security", []))


# The webhook probe's wrong token: as long as a real one, since the route refuses a shorter token without reading
# its secret, and the probe must make it read the secret to prove it readable
WEBHOOK_PROBE_TOKEN_LENGTH = 48


def probes(openapi: dict[str, Any], marker: str) -> list[Probe]:
    """One refusal per route of the OpenAPI document, and the unsigned probe (UNSIGNED_PROBE's route)."""
    found = []
    for template, operations in sorted(openapi["paths"].items()):
        for method, operation in sorted(operations.items()):
            signed = _signed(operation)
            path, body, status, code = template, b"[]", 400, "validation_error"  # not a JSON object
            if "{token}" in template:
                path, body, status, code = (
                    template.replace("{token}", f"smoke{marker}".ljust(WEBHOOK_PROBE_TOKEN_LENGTH, "0")),
                    b"{}",
                    401,
                    "invalid_webhook_token",
                )
            elif "{applicationId}" in template:
                path, body, status, code = (
                    template.replace("{applicationId}", f"smoke_{marker}"),
                    None,
                    404,
                    "application_not_found",
                )
            elif method != "post" or "{" in template:
                raise ValueError(f"no smoke probe for {method.upper()} {template}: add one")
            found.append(refusal(method.upper(), path, signed=signed, body=body, status=status, code=code))
    pinned = next((probe for probe in found if probe.signed and (probe.method, probe.path) == UNSIGNED_PROBE), None)
    if pinned is None:
        raise ValueError(f"no signed route {' '.join(UNSIGNED_PROBE)} for the unsigned probe")
    found.append(
        refusal(
            pinned.method,
            pinned.path,
            signed=False,
            body=pinned.body,
            status=401,
            code=UNSIGNED_REFUSAL,
        )
    )
    return found


def identifiers(environment: str) -> dict[str, dict[str, str]]:
    """ENV's test identifiers per provider: smoke.toml's `[ENV.<provider>]` tables, a provider's replaced by its
    entry in SMOKE_IDENTIFIERS when that is set. Providers whose fields are all empty are left out; a provider
    with only some of its fields is an error, as is an unknown provider or field."""
    configured = tomllib.loads(IDENTIFIERS.read_text()).get(environment, {})
    override = os.environ.get(IDENTIFIERS_VARIABLE, "").strip()
    if override:
        try:
            configured = configured | json.loads(override)
        except (ValueError, TypeError):
            raise ValueError(f"{IDENTIFIERS_VARIABLE} is not a JSON object") from None
    operations = {operation.provider: operation for operation in READ_OPERATIONS}
    found = {}
    for provider, values in configured.items():
        where = f"test identifiers of {environment}.{provider}"
        if provider not in operations:
            raise ValueError(f"{where}: no read-only probe for {provider!r} (known: {', '.join(operations)})")
        fields = operations[provider].fields
        if not isinstance(values, dict) or set(values) - set(fields):
            raise ValueError(f"{where}: expected a table of {', '.join(fields)} only")
        given = {field: value for field, value in values.items() if value}
        if not all(isinstance(value, str) for value in given.values()):
            raise ValueError(f"{where}: each value is a string")
        if given and set(given) != set(fields):
            raise ValueError(f"{where}: {', '.join(sorted(set(fields) - set(given)))} missing")
        if given:
            found[provider] = given
    return found


def success_probes(openapi: dict[str, Any], environment: str, configured: dict[str, dict[str, str]]) -> list[Probe]:
    """One valid read per provider configured for ENV; a line for each provider skipped."""
    found = []
    for operation in READ_OPERATIONS:
        if not _signed(openapi["paths"].get(operation.path, {}).get("post", {})):
            raise ValueError(f"POST {operation.path} is not a signed route of openapi.json")
        if operation.provider in configured:
            found.append(operation.probe(configured[operation.provider]))
        else:
            print(f"skip POST {operation.path}: no test identifiers for {environment} ({IDENTIFIERS.name})")
    return found


def api_url(environment: str) -> tuple[str, str]:
    """(ApiUrl output, region) of ENV's stack, named by samconfig.toml."""
    import boto3

    stack_name, region = deployment(environment)
    stack = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack_name)["Stacks"][0]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    return outputs["ApiUrl"], region


class Signer:
    """SigV4 for execute-api with the default credential chain (botocore's, so the OIDC role's session works)."""

    def __init__(self, region: str) -> None:
        import botocore.session
        from botocore.auth import SigV4Auth

        credentials = botocore.session.get_session().get_credentials()
        if credentials is None:
            raise SystemExit("no AWS credentials: the smoke test signs its requests (SigV4)")
        self._auth = SigV4Auth(credentials, "execute-api", region)

    def headers(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        self._auth.add_auth(request)
        return dict(request.headers.items())


def run(
    base_url: str,
    signer: Signer,
    *,
    iam: bool,
    environment: str,
    configured: dict[str, dict[str, str]] | None,
) -> list[str]:
    """Send every refusal, then the success probes of `configured` (None: none); one line per route that did not
    answer as it should (empty: the stack is healthy). Only route and status are printed, never a body."""
    marker = uuid.uuid4().hex[:20]
    openapi = json.loads((ROOT / "openapi.json").read_text())
    chosen = [probe for probe in probes(openapi, marker) if iam or probe.expected != UNSIGNED_REFUSAL]
    if configured is not None:
        chosen += success_probes(openapi, environment, configured)
    failures = []
    for index, probe in enumerate(chosen):
        url = base_url.rstrip("/") + probe.path
        correlation = f"smoke-{marker}-{index}"
        headers = {"Content-Type": "application/json", "X-Correlation-Id": correlation}
        if probe.signed:
            headers = signer.headers(probe.method, url, probe.body, headers)
        try:
            answer = requests.request(probe.method, url, data=probe.body, headers=headers, timeout=TIMEOUT_SECONDS)
        except requests.RequestException as error:
            failures.append(f"{probe.method} {probe.path}: no answer ({type(error).__name__})")
            continue
        problem = _problem(probe, answer, correlation)
        print(f"{'ok  ' if problem is None else 'FAIL'} {answer.status_code} {probe.method} {probe.path}")
        if problem is not None:
            failures.append(f"{probe.method} {probe.path}: {problem}")
    return failures


def _error_code(answer: dict[str, Any]) -> str | None:
    error = answer.get("error")
    return error.get("code") if isinstance(error, dict) else None


def _problem(probe: Probe, answer: requests.Response, correlation: str) -> str | None:
    try:
        body = answer.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    if answer.status_code != probe.status or not probe.matches(body):
        got = _error_code(body) or ("another body" if body else "no JSON object")
        return f"expected {probe.status} {probe.expected}, got {answer.status_code} {got}"
    if probe.expected != UNSIGNED_REFUSAL and answer.headers.get("X-Correlation-Id") != correlation:
        return "the answer does not carry the request's X-Correlation-Id"
    return None


def _running_stack(parser: argparse.ArgumentParser) -> str:
    state = running_stack()
    if state is None:
        parser.error(f"no running local stack ({no_running_stack()}): start `make run`, or give --api-url")
    return state["api"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make smoke", description=__doc__.splitlines()[0])
    parser.add_argument("environment", help="samconfig.toml section of the stack (dev, prod), or local (make run)")
    parser.add_argument("--api-url", help="the API's base URL, instead of the stack's ApiUrl output")
    parser.add_argument("--region", default="us-east-1", help="signing region with --api-url")
    parser.add_argument("--no-iam", action="store_true", help="skip the unsigned probe (implied by local: no IAM)")
    parser.add_argument("--refusals-only", action="store_true", help="no success probe: no provider is called")
    arguments = parser.parse_args(argv)
    local = arguments.environment == "local"
    try:
        configured = None if arguments.refusals_only else identifiers(arguments.environment)
    except ValueError as error:
        parser.error(str(error))
    if arguments.api_url:
        base_url, region = arguments.api_url, arguments.region
    elif local:
        base_url, region = _running_stack(parser), arguments.region
    else:
        base_url, region = api_url(arguments.environment)
    if not re.match(r"https?://", base_url):
        parser.error(f"not an http(s) URL: {base_url}")
    if local:  # the local stack checks no signature and no IAM: any credentials do, never real ones
        os.environ.update(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local")
        os.environ.pop("AWS_SESSION_TOKEN", None)
    signer = Signer(region)
    iam = not (arguments.no_iam or local)
    failures = run(base_url, signer, iam=iam, environment=arguments.environment, configured=configured)
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"smoke test of {base_url}: {'failed' if failures else 'passed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
