"""`make smoke ENV=dev|prod`: prove a deployed stack answers, without calling any provider or sending personal data.

Every route of openapi.json gets one request that the gateway must refuse on its own, so a provider is never
reached and nothing is written:

- each signed POST route: a body that is not a JSON object, answered 400 `validation_error` by the function
  (API Gateway accepted the SigV4 signature, the alias runs, the layer imports, the envelope is right);
- the signed application read: an unknown application id, 404 `application_not_found` (the function may read its
  table);
- the webhook route: a wrong token, 401 `invalid_webhook_token` (the webhook secret is readable);
- one signed route without a signature: 403 `not_authenticated` from API Gateway (IAM is enforced).

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
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from local.samconfig import deployment
from local.state import state_file

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_SECONDS = 35  # above API Gateway's 29 s: a slow cold start is the gateway's to report, not ours


@dataclass(frozen=True)
class Probe:
    method: str
    path: str
    signed: bool
    body: bytes | None
    status: int
    code: str


def probes(openapi: dict[str, Any], marker: str) -> list[Probe]:
    """One refusal per route of the OpenAPI document, and the unsigned probe of the first signed route."""
    found = []
    for template, operations in sorted(openapi["paths"].items()):
        for method, operation in sorted(operations.items()):
            signed = any("sigv4" in requirement for requirement in operation.get("security", []))
            path, body, status, code = template, b"[]", 400, "validation_error"  # not a JSON object
            if "{token}" in template:
                path, body, status, code = (
                    template.replace("{token}", f"smoke{marker}"),
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
            found.append(Probe(method.upper(), path, signed, body, status, code))
    first_signed = next(probe for probe in found if probe.signed)
    found.append(Probe(first_signed.method, first_signed.path, False, first_signed.body, 403, "not_authenticated"))
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


def run(base_url: str, signer: Signer, *, iam: bool) -> list[str]:
    """Send every probe; one line per route that did not answer as it should (empty: the stack is healthy)."""
    marker = uuid.uuid4().hex[:20]
    openapi = json.loads((ROOT / "openapi.json").read_text())
    failures = []
    for index, probe in enumerate(probes(openapi, marker)):
        if probe.status == 403 and not iam:
            continue
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


def _problem(probe: Probe, answer: requests.Response, correlation: str) -> str | None:
    try:
        code = answer.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = None
    if (answer.status_code, code) != (probe.status, probe.code):
        return f"expected {probe.status} {probe.code}, got {answer.status_code} {code}"
    if probe.status != 403 and answer.headers.get("X-Correlation-Id") != correlation:
        return "the answer does not carry the request's X-Correlation-Id"
    return None


def _running_stack(parser: argparse.ArgumentParser) -> str:
    try:
        return json.loads(state_file().read_text())["api"]
    except (OSError, ValueError, KeyError):
        parser.error(f"no running local stack ({state_file()}): start `make run`, or give --api-url")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make smoke", description=__doc__.splitlines()[0])
    parser.add_argument("environment", help="samconfig.toml section of the stack (dev, prod), or local (make run)")
    parser.add_argument("--api-url", help="the API's base URL, instead of the stack's ApiUrl output")
    parser.add_argument("--region", default="us-east-1", help="signing region with --api-url")
    parser.add_argument("--no-iam", action="store_true", help="skip the unsigned probe (implied by local: no IAM)")
    arguments = parser.parse_args(argv)
    local = arguments.environment == "local"
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
    failures = run(base_url, signer, iam=not (arguments.no_iam or local))
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"smoke test of {base_url}: {'failed' if failures else 'passed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
