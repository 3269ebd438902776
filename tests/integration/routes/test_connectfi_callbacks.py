"""A caller's webhookUrl sends connectFi's callbacks, which carry customer data: only to the gateway's own host or a
host of CONNECTFI_WEBHOOK_HOSTS. Anything else is 400 before any call to connectFi."""

from __future__ import annotations

import pytest

from tests.integration.routes.test_connectfi import (
    IDENTIFICATION,
    IDENTIFY,
    IDENTIFY_FN,
    LOGIN,
    application,
    login_reply,
)


@pytest.fixture
def connectfi(gateway):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, application())
    return gateway


def allow(gateway, monkeypatch, hosts: str) -> None:
    monkeypatch.setenv("CONNECTFI_WEBHOOK_HOSTS", hosts)
    gateway.new_instance()  # settings are read once per instance


def refused(answer, field: str = "webhookUrl") -> bool:
    details = answer.error["details"] if answer.status == 400 else []
    return [(detail["field"], detail["type"]) for detail in details] == [(field, "host_not_allowed")]


@pytest.mark.parametrize("field", ["webhookUrl", "webhookURL"])
def test_a_webhook_url_on_another_host_is_a_400_naming_the_field_and_connectfi_is_never_called(connectfi, field):
    # Given no allow-list: only the gateway's own host (https://gateway.test) may receive callbacks
    answer = connectfi.call(IDENTIFY_FN, {**IDENTIFICATION, field: "https://collector.example/hook"})

    assert answer.error["code"] == "validation_error" and refused(answer, field)
    (detail,) = answer.error["details"]  # and says what would pass
    assert (
        detail["issue"]
        == "must be https (http: local stack) on the gateway's own host or one of CONNECTFI_WEBHOOK_HOSTS"
    )
    assert connectfi.provider.requests() == []  # not even a login


@pytest.mark.parametrize(
    "url",
    [
        "not even a URL",
        "gateway.test/hook",  # no scheme
        "ftp://gateway.test/hook",
        "//gateway.test/hook",
        "https://gateway.test@collector.example/hook",  # user info: the host is the part after @
        "https://collector.example\\@gateway.test/",  # a backslash ends the host for browsers, not for others
        "https://collector.example\\.gateway.test/",
        "https://gateway.test\t@collector.example/",  # a tab, which some parsers drop
        "https://gateway.test:443@collector.example/",
        "https://gateway.test.collector.example/hook",
        "https://collector.example/https://gateway.test/",
        "https://%67ateway.test/hook",  # percent-encoded
        "https://[::1]/hook",
        " https://gateway.test/hook",
        "https://gateway.test:99999/hook",  # no such port: no callback could ever come
        "https://gateway.test:0/hook",
        "https://gateway.test:65536/hook",
    ],
)
def test_a_url_whose_host_is_not_plainly_an_allowed_one_is_refused(connectfi, url):
    answer = connectfi.call(IDENTIFY_FN, {**IDENTIFICATION, "webhookUrl": url})

    assert refused(answer), url
    assert connectfi.provider.requests() == []


@pytest.mark.parametrize(
    "url",
    [
        "https://gateway.test/connectfi/webhooks/other",
        "https://GATEWAY.test.:8443/x?y=1#z",
        "https://gateway.test:65535/x",
        "https://gateway.test:1/x",
        "http://gateway.test/",
    ],
)
def test_the_gateways_own_host_is_always_allowed(connectfi, url):
    # (plain http: the local stack's ENVIRONMENT=local, as for every URL the gateway calls)
    answer = connectfi.call(IDENTIFY_FN, {**IDENTIFICATION, "webhookUrl": url})

    assert answer.status == 200
    assert connectfi.provider.requests(IDENTIFY)[0].json()["webhookUrl"] == url


def test_without_a_public_base_url_the_host_the_request_came_in_at_is_the_gateways_own(connectfi, monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "")
    connectfi.new_instance()

    assert refused(connectfi.call(IDENTIFY_FN, {**IDENTIFICATION, "webhookUrl": "https://gateway.test/hook"}))
    answer = connectfi.call(IDENTIFY_FN, {**IDENTIFICATION, "webhookUrl": "https://127.0.0.1/hook"})
    assert answer.status == 200


def test_with_a_custom_domain_the_host_the_request_came_in_at_is_the_gateways_own_too(connectfi):
    # Given PUBLIC_BASE_URL https://gateway.test (a custom domain) and a request that came in at 127.0.0.1 (as a
    # request at the execute-api host does: that URL keeps working beside the domain)
    for url in ("https://gateway.test/hook", "https://127.0.0.1/hook"):
        answer = connectfi.call(IDENTIFY_FN, {**IDENTIFICATION, "webhookUrl": url})
        assert answer.status == 200, url
    assert [request.json()["webhookUrl"] for request in connectfi.provider.requests(IDENTIFY)] == [
        "https://gateway.test/hook",
        "https://127.0.0.1/hook",
    ]


def test_a_host_of_the_allow_list_passes_in_any_case_and_its_subdomains_and_parents_do_not(connectfi, monkeypatch):
    allow(connectfi, monkeypatch, " Hooks.Partner.example , callbacks.example. ")

    for url in ("https://hooks.partner.example/kyc/42", "https://HOOKS.PARTNER.EXAMPLE/x", "https://callbacks.example"):
        assert connectfi.call(IDENTIFY_FN, {**IDENTIFICATION, "webhookUrl": url}).status == 200, url
    for url in ("https://partner.example/kyc", "https://evil.hooks.partner.example/", "https://callbacks.example.evil"):
        assert refused(connectfi.call(IDENTIFY_FN, {**IDENTIFICATION, "webhookUrl": url})), url
    sent = [request.json()["webhookUrl"] for request in connectfi.provider.requests(IDENTIFY)]
    assert sent == [
        "https://hooks.partner.example/kyc/42",
        "https://HOOKS.PARTNER.EXAMPLE/x",
        "https://callbacks.example",
    ]


def test_an_absent_or_empty_webhook_url_needs_no_allow_list(connectfi):
    assert connectfi.call(IDENTIFY_FN, IDENTIFICATION).status == 200  # the gateway's own webhook URL
    assert connectfi.call(IDENTIFY_FN, {**IDENTIFICATION, "reference": "R2", "webhookUrl": ""}).status == 200
    assert [request.json()["webhookUrl"] for request in connectfi.provider.requests(IDENTIFY)][1] == ""


def test_a_malformed_allow_list_is_a_configuration_error_naming_it(connectfi, monkeypatch):
    allow(connectfi, monkeypatch, "hooks.partner.example,https://other.example/")

    answer = connectfi.call(IDENTIFY_FN, {**IDENTIFICATION, "webhookUrl": "https://hooks.partner.example/"})

    assert (answer.status, answer.error["code"]) == (500, "configuration_error")
    assert "CONNECTFI_WEBHOOK_HOSTS" in answer.error["message"]
    assert connectfi.provider.requests() == []
