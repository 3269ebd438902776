"""The caller kit used wrongly: settings, arguments, base URLs, regions, credentials and environments it cannot work
with raise its own errors, before anything is sent, never a bare ValueError or TypeError."""

from __future__ import annotations

import math

import pytest
from botocore.credentials import Credentials
from botocore.exceptions import CredentialRetrievalError
from kyc_gateway_client import (
    ClientMisconfigured,
    CredentialsUnavailable,
    GatewayClient,
    GatewayError,
    InvalidBaseUrl,
    InvalidRequest,
)

from tests.unit.test_client import CREDENTIALS, OK, URL, client


@pytest.mark.parametrize(
    "settings",
    [
        {"budget_seconds": 0},
        {"budget_seconds": -1},
        {"budget_seconds": math.inf},
        {"timeout": (0, 0)},
        {"timeout": (3.05, -1)},
        {"timeout": 30},
        {"timeout": (3.05, "30")},
        {"max_attempts": 0},
        {"max_attempts": 2.5},
        {"backoff_seconds": -0.25},
        {"backoff_cap_seconds": math.nan},
    ],
    ids=str,
)
def test_timing_settings_requests_cannot_use_raise_the_clients_own_error_at_construction(settings):
    with pytest.raises(ClientMisconfigured) as raised:
        GatewayClient(URL, region="eu-west-1", credentials=CREDENTIALS, **settings)

    assert raised.value.code == "invalid_timing" and not isinstance(raised.value, ValueError)


def test_a_retry_whose_pause_overran_the_budget_is_not_sent_and_the_last_answer_stands():
    # Given a gateway busy (503), and a pause before the retry that oversleeps past the budget
    gateway, transport, clock = client((503, {}, {}), OK, budget_seconds=1.0, backoff_seconds=0.5, timeout=(0.1, 0.1))
    oversleep = clock.sleep

    def overrunning(seconds: float) -> None:
        oversleep(seconds + 1.0)

    gateway._sleep = overrunning

    # When a call is made, Then the last answer is raised: no attempt with no time left (its timeout negative)
    with pytest.raises(Exception) as raised:
        gateway.cladfy_krapin({"pinnumber": "A004416331M"})
    assert not isinstance(raised.value, ValueError) and getattr(raised.value, "status", None) == 503
    assert len(transport.sent) == 1


@pytest.mark.parametrize(
    "application_id", ["", 123, None, ".", ".."], ids=["empty", "a number", "None", "a dot", "two dots"]
)
def test_an_application_id_that_is_not_a_non_empty_string_is_refused_before_anything_is_sent(application_id):
    gateway, transport, _ = client(OK)

    with pytest.raises(InvalidRequest) as raised:
        gateway.connectfi_application(application_id)

    assert (raised.value.status, raised.value.code) == (0, "validation_error") and transport.sent == []


def nested(depth: int) -> dict:
    body = inner = {}
    for _ in range(depth):
        inner["a"] = inner = {}
    return body


@pytest.mark.parametrize(
    "value", [b"\xff\xd8", {1, 2}, math.nan, nested(100_000)], ids=["bytes", "a set", "NaN", "nested too deep"]
)
def test_a_body_that_is_not_json_is_refused_before_anything_is_sent_without_repeating_it(value):
    gateway, transport, _ = client(OK)

    with pytest.raises(InvalidRequest) as raised:
        gateway.connectfi_documents({"file": value})

    assert raised.value.code == "validation_error" and transport.sent == []
    assert "xff" not in str(raised.value)


@pytest.mark.parametrize("host", ["\u2603.com", "e\u0301.com"], ids=["a symbol", "a letter not normalised"])
def test_a_host_requests_cannot_encode_is_an_invalid_base_url_at_construction(host):
    with pytest.raises(InvalidBaseUrl):
        GatewayClient(f"https://{host}/dev", region="eu-west-1", credentials=CREDENTIALS)


def test_an_international_host_requests_can_encode_is_accepted():
    assert GatewayClient("https://\u00e9.example/dev", sign=False).base_url == "https://\u00e9.example/dev"


def test_the_region_of_the_aws_profile_is_used_when_none_is_given(monkeypatch, tmp_path):
    # Given a region set only in the AWS configuration file's profile
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    (tmp_path / "config").write_text("[default]\nregion = ap-south-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))

    # When a signing client is made without a region, Then it signs for the profile's region
    assert GatewayClient(URL, credentials=CREDENTIALS).region == "ap-south-1"
    # And AWS_REGION, then AWS_DEFAULT_REGION, come before it
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert GatewayClient(URL, credentials=CREDENTIALS).region == "eu-central-1"
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert GatewayClient(URL, credentials=CREDENTIALS).region == "eu-west-1"


def test_the_aws_configuration_is_read_once_for_the_region_and_the_credentials(monkeypatch, tmp_path):
    # Given a profile naming the region and the credentials, and botocore sessions counted
    import botocore.session

    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(variable, raising=False)
    (tmp_path / "config").write_text("[default]\nregion = ap-south-1\n")
    (tmp_path / "credentials").write_text("[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    made = []
    real = botocore.session.Session
    monkeypatch.setattr(botocore.session, "Session", lambda *a, **k: made.append(1) or real(*a, **k))

    # When a client finds its region and signs two requests
    client = GatewayClient(URL)
    first = client._signed("GET", f"{URL}/x", {}, None)
    second = client._signed("GET", f"{URL}/x", {}, None)

    # Then one session served both, and the profile's credentials signed
    assert (client.region, len(made)) == ("ap-south-1", 1)
    assert "Credential=AKIDEXAMPLE/" in first["Authorization"] and "ap-south-1" in second["Authorization"]


UNSENDABLE = ["\u2713", "order\n77", " order-77", "order 77", "", 77, b"order-77", "-order", "k" * 256]
UNSENDABLE_IDS = ["not Latin-1", "a line break", "a leading space", "a space", "empty", "a number", "bytes",
                  "a leading dash", "too long"]  # fmt: skip


@pytest.mark.parametrize("key", UNSENDABLE, ids=UNSENDABLE_IDS)
def test_an_idempotency_key_the_gateway_would_not_take_is_refused_before_anything_is_sent(key):
    # Given a write and an Idempotency-Key that is not 1-255 letters, digits or . _ : - (or not a string at all)
    gateway, transport, _ = client(OK)

    # When the write is called with it, Then the client's own error says so (never the HTTP stack's
    # UnicodeEncodeError or ValueError, nor a TransportError inviting a retry), and an empty key is not replaced
    with pytest.raises(InvalidRequest) as raised:
        gateway.connectfi_update({"applicationId": "iapp_1"}, idempotency_key=key)

    assert (raised.value.status, raised.value.code) == (0, "validation_error") and transport.sent == []
    assert raised.value.details[0]["field"] == "idempotency_key" and not isinstance(raised.value, ValueError)


UNSENDABLE_CORRELATION_IDS = ["\u2713", "order\n77", " order-77", "order-77 ", "", 77, b"order-77", "c" * 129]


@pytest.mark.parametrize(
    "correlation_id",
    UNSENDABLE_CORRELATION_IDS,
    ids=["not ASCII", "a line break", "a leading space", "a trailing space", "empty", "a number", "bytes", "too long"],
)
def test_a_correlation_id_that_cannot_be_sent_as_a_header_is_refused_before_anything_is_sent(correlation_id):
    gateway, transport, _ = client(OK)

    with pytest.raises(InvalidRequest) as raised:
        gateway.cladfy_krapin({"pinnumber": "A004416331M"}, correlation_id=correlation_id)

    assert (raised.value.status, raised.value.details[0]["field"]) == (0, "correlation_id") and transport.sent == []


@pytest.mark.parametrize("correlation_id", ["order 77", "-order/77#x"])
def test_a_sendable_correlation_id_goes_to_the_gateway_which_decides_whether_to_echo_it(correlation_id):
    gateway, transport, _ = client(OK)

    gateway.cladfy_krapin({"pinnumber": "A004416331M"}, correlation_id=correlation_id)

    assert transport.sent[0].headers["X-Correlation-Id"] == correlation_id


def test_the_longest_keys_the_gateway_takes_are_sent_as_given():
    gateway, transport, _ = client(OK)
    key, correlation_id = "K" + "a.b_c:d-" * 31 + "z" * 6, "C" + "9" * 127  # 255 and 128 characters

    gateway.connectfi_update({"applicationId": "iapp_1"}, idempotency_key=key, correlation_id=correlation_id)

    assert transport.sent[0].headers["Idempotency-Key"] == key
    assert transport.sent[0].headers["X-Correlation-Id"] == correlation_id


@pytest.mark.parametrize(
    "url",
    [
        "ftp://abc123.execute-api.eu-west-1.amazonaws.com/dev",
        "abc123.execute-api.eu-west-1.amazonaws.com/dev",
        "https:///dev",
        "https://abc123.execute-api.eu-west-1.amazonaws.com:99999/dev",
        "https://[::1/dev",
        "https://abc123.execute-api.eu-west-1.amazonaws.com/dev?stage=prod",
        "https://user:password@abc123.execute-api.eu-west-1.amazonaws.com/dev",
        "",
        None,
        42,
        b"https://abc123.execute-api.eu-west-1.amazonaws.com/dev",
        "https://abc123.execute-api.eu-west-1.amazonaws.com:0/dev",
        "https://abc123..amazonaws.com/dev",  # an empty label: no connection can be opened to it
        f"https://{'a' * 64}.execute-api.eu-west-1.amazonaws.com/dev",  # a label over 63 characters
        "https://abc123.execute-api.eu-west-1.amazonaws.com/dev?",
        "https://abc123.execute-api.eu-west-1.amazonaws.com/dev#",
        "https://abc 123.execute-api.eu-west-1.amazonaws.com/dev",
        "https://abc123.execute-api.eu-west-1.amazonaws.com/my stage",
        "https://abc123.execute-api.eu-west-1.amazonaws.com/dev\n",
        "https://abc123.execute-api.eu-west-1.amazonaws.com/d\tev",
    ],
)
def test_a_base_url_the_client_cannot_use_raises_its_own_error_before_anything_is_sent(url, monkeypatch):
    monkeypatch.delenv("KYC_GATEWAY_URL", raising=False)

    with pytest.raises(InvalidBaseUrl) as raised:
        GatewayClient(url, region="eu-west-1", credentials=CREDENTIALS)

    assert isinstance(raised.value, GatewayError) and not isinstance(raised.value, ValueError)
    assert raised.value.code == "invalid_base_url" and "password" not in str(raised.value)


@pytest.mark.parametrize(
    "url", ["http://abc123.execute-api.eu-west-1.amazonaws.com/dev", "http://10.0.0.7/dev", "http://gateway.internal"]
)
def test_a_signed_client_refuses_to_send_in_clear_to_another_host(url):
    # Given an http:// URL of a host that is not this machine: signed headers and personal data would cross in clear
    with pytest.raises(InvalidBaseUrl, match="https:// only") as raised:
        GatewayClient(url, region="eu-west-1", credentials=CREDENTIALS)

    assert raised.value.code == "invalid_base_url"


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:3000", "http://127.8.0.1", "http://localhost:3000/", "http://api.localhost", "http://[::1]"],
)
def test_a_gateway_on_this_machine_may_be_reached_over_http_signed_or_not(url):
    assert GatewayClient(url, region="eu-west-1", credentials=CREDENTIALS).base_url == url.rstrip("/")
    assert GatewayClient(url, sign=False).base_url == url.rstrip("/")


def test_an_unsigned_client_may_use_http_to_another_host():
    assert GatewayClient("http://gateway.internal/dev", sign=False).base_url == "http://gateway.internal/dev"


def test_no_region_to_sign_for_raises_the_clients_own_error(monkeypatch, tmp_path):
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))  # nor a profile's region

    with pytest.raises(ClientMisconfigured) as raised:
        GatewayClient(URL, credentials=CREDENTIALS)

    assert raised.value.code == "missing_region"


@pytest.mark.parametrize("region", [5, "eu-west-1\n", "EU WEST", b"eu-west-1"])
def test_a_region_that_cannot_be_signed_for_raises_the_clients_own_error(region):
    with pytest.raises(ClientMisconfigured) as raised:
        GatewayClient(URL, region=region, credentials=CREDENTIALS)

    assert raised.value.code == "invalid_region" and not isinstance(raised.value, (TypeError, ValueError))


@pytest.fixture
def no_aws_credentials(monkeypatch, tmp_path):
    """A machine without credentials anywhere in the standard chain (no instance metadata either)."""
    for variable in (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):  # fmt: skip
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_signing_without_credentials_raises_the_clients_own_error_and_sends_nothing(no_aws_credentials):
    gateway, transport, _ = client(OK, credentials=None)

    with pytest.raises(CredentialsUnavailable) as raised:
        gateway.cladfy_krapin({"pinnumber": "A004416331M"})

    assert raised.value.code == "credentials_unavailable" and transport.sent == []


@pytest.mark.parametrize(
    "credentials", [Credentials(None, None), Credentials("AKIDEXAMPLE", ""), Credentials("", "secret")]
)
def test_credentials_without_a_key_raise_the_clients_own_error_and_send_nothing(credentials):
    gateway, transport, _ = client(OK, credentials=credentials)

    with pytest.raises(CredentialsUnavailable, match="no access key or no secret key") as raised:
        gateway.cladfy_krapin({"pinnumber": "A004416331M"})

    assert not isinstance(raised.value, TypeError) and transport.sent == []


def test_a_profile_that_does_not_exist_raises_the_clients_own_error(no_aws_credentials, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    gateway, transport, _ = client(OK, credentials=None)

    with pytest.raises(CredentialsUnavailable, match="ProfileNotFound"):
        gateway.cladfy_krapin({"pinnumber": "A004416331M"})

    assert transport.sent == []


@pytest.mark.parametrize(
    ("source", "failure"),
    [
        ("credential_process = /bin/echo not-json", "JSONDecodeError"),
        ("credential_process = /no/such/program", "FileNotFoundError"),
        ("web_identity_token_file = /no/such/token\nrole_arn = arn:aws:iam::1:role/caller", "FileNotFoundError"),
    ],
)
def test_a_credential_source_that_fails_however_it_fails_raises_the_clients_own_error(
    source, failure, no_aws_credentials, tmp_path
):
    # Given a profile whose credentials come from a process that cannot give them, or a token file that is missing
    (tmp_path / "config").write_text(f"[default]\n{source}\n")
    gateway, transport, _ = client(OK, credentials=None)

    # When a signed call is made, Then the client's own error says which kind of failure, and nothing is sent
    with pytest.raises(CredentialsUnavailable, match=failure) as raised:
        gateway.cladfy_krapin({"pinnumber": "A004416331M"})

    assert not isinstance(raised.value, ValueError | OSError) and transport.sent == []


def test_credentials_that_fail_to_refresh_raise_the_clients_own_error():
    class Expired:
        def get_frozen_credentials(self):
            raise CredentialRetrievalError(provider="sso", error_msg="the SSO session has expired")

    gateway, transport, _ = client(OK, credentials=Expired())

    with pytest.raises(CredentialsUnavailable, match="CredentialRetrievalError"):
        gateway.cladfy_krapin({"pinnumber": "A004416331M"})

    assert transport.sent == []
