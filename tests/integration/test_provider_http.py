"""The provider HTTP client's answers: what it sends, which answers it retries (reads only, within the budget, after
a backoff or the provider's Retry-After), and what it tells the caller about a write's outcome."""

from __future__ import annotations

import random
import time

import pytest

from kyc_gateway.errors import ProviderBadResponse, ProviderTimeout, RequestNotBuilt
from kyc_gateway.fields import RawJson
from kyc_gateway.http import ProviderHttp
from kyc_gateway.settings import Settings
from tests.support.emf import log_lines
from tests.support.fake_provider import Reply

SETTINGS = Settings(PROVIDER_CIRCUIT_FAILURES=2)
RETRYABLE = [429, 500, 502, 503, 504]
OK = Reply(200, b'{"ok": true}')
HTML = "text/html"


def client(provider, **settings) -> ProviderHttp:
    return ProviderHttp("test", provider.url, Settings(**settings))


def read(http: ProviderHttp, path: str = "/read", **options):
    return http.post(path, operation="read", idempotent=True, json_body={}, **options)


def write(http: ProviderHttp, path: str = "/write", **options):
    return http.post(path, operation="write", idempotent=False, json_body={}, **options)


@pytest.fixture
def jitter_midpoint(monkeypatch):
    """Each backoff at the middle of its random range, so the waits can be asserted exactly."""
    monkeypatch.setattr(random, "uniform", lambda low, high: (low + high) / 2)


# --- what is sent ---------------------------------------------------------------------------------------------------


def test_a_json_body_is_sent_as_requests_would_send_it_with_the_callers_headers(provider):
    provider.reply("/echo", Reply(200, b"{}"))
    http = ProviderHttp("test", provider.url, SETTINGS)

    http.post(
        "/echo", operation="echo", idempotent=True, json_body={"name": "Zoë", "n": 1.5}, headers={"X-Api-Key": "k"}
    )

    (sent,) = provider.requests()
    assert (sent.headers["Content-Type"], sent.headers["X-Api-Key"]) == ("application/json", "k")
    assert sent.body == b'{"name": "Zo\\u00eb", "n": 1.5}'


def test_the_callers_own_json_is_sent_byte_for_byte_as_json_with_the_callers_headers(provider):
    provider.reply("/echo", Reply(200, b"{}"))
    own = RawJson('{"amount" : 1.10,\n "name": "Zoë", "big": 12345678901234567890}'.encode())

    client(provider).post("/echo", operation="echo", idempotent=False, json_body=own, headers={"X-Api-Key": "k"})

    (sent,) = provider.requests()
    assert (sent.headers["Content-Type"], sent.headers["X-Api-Key"]) == ("application/json", "k")
    assert sent.body == bytes(own)  # not re-encoded: 1.10, the spacing, the digits beyond a double's, as written


def test_a_form_is_sent_url_encoded_with_the_callers_headers(provider):
    provider.reply("/token", OK)

    client(provider).post(
        "/token", operation="token", idempotent=True, form={"grant": "a b&c"}, headers={"Authorization": "Basic x"}
    )

    (sent,) = provider.requests()
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert (sent.body, sent.headers["Authorization"]) == (b"grant=a+b%26c", "Basic x")


def test_files_are_sent_as_multipart_form_data_with_their_name_and_media_type(provider):
    provider.reply("/upload", OK)

    client(provider).post(
        "/upload",
        operation="upload",
        idempotent=False,
        form={"kind": "passport"},
        files={"file": ("passport.pdf", b"%PDF-1.7 content", "application/pdf")},
    )

    (sent,) = provider.requests()
    assert sent.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="kind"\r\n\r\npassport\r\n' in sent.body
    assert b'name="file"; filename="passport.pdf"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.7 content' in sent.body


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1, 2}])
def test_a_body_the_gateway_cannot_encode_is_its_own_fault_never_a_provider_call_or_a_breaker_count(provider, value):
    provider.reply("/write", Reply(200, b"{}"))
    http = ProviderHttp("test", provider.url, SETTINGS)

    # Given more unencodable requests than it takes failures to open the circuit
    for _ in range(SETTINGS.circuit_failure_threshold + 1):
        with pytest.raises(RequestNotBuilt) as raised:
            http.post("/write", operation="write", idempotent=False, json_body={"extra": value})
        assert raised.value.gateway_fault and raised.value.provider is None
        assert not raised.value.outcome_unknown  # nothing was sent: nothing to be unsure about

    # Then nothing reached the provider, and its circuit is still closed for a request that can be sent
    assert provider.requests() == []
    assert http.post("/write", operation="write", idempotent=False, json_body={"extra": 1}).status == 200


# --- which answers are retried ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [status for status in RETRYABLE if status != 429])
def test_a_read_answered_a_5xx_is_retried_and_a_write_is_not(provider, stopped_clock, status):
    provider.reply("/read", Reply(status, b"{}"), OK)
    provider.reply("/write", Reply(status, b"{}"), OK)
    http = client(provider)

    assert read(http).status == 200
    assert len(provider.requests("/read")) == 2

    assert write(http).status == status  # a write is never sent twice blindly: the caller is told
    assert len(provider.requests("/write")) == 1


def test_a_429_is_retried_for_a_write_too_as_the_provider_did_not_do_it(provider, stopped_clock):
    # Given a provider refusing a write for its rate limit (RFC 6585: refused, not done), then taking it
    provider.reply("/write", Reply(429, b"{}"), Reply(429, b"{}"), OK)

    answer = write(client(provider))

    # Then the write went again, within the gateway's attempts, and its outcome is known
    assert (answer.status, answer.outcome_unknown) == (200, False)
    assert len(provider.requests("/write")) == 3


def test_a_write_rate_limited_past_the_attempts_answers_the_429(provider, stopped_clock):
    provider.reply("/write", Reply(429, b"{}"))

    answer = write(client(provider, PROVIDER_MAX_ATTEMPTS=3))

    assert (answer.status, answer.throttled) == (429, True)
    assert len(provider.requests("/write")) == 3


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422, 501, 505])
def test_a_read_answered_another_error_is_not_retried(provider, stopped_clock, status):
    provider.reply("/read", Reply(status, b"{}"), OK)

    assert read(client(provider)).status == status
    assert len(provider.requests("/read")) == 1
    assert stopped_clock.slept == []


@pytest.mark.parametrize("attempts", [1, 3, 5])
def test_a_read_failing_every_time_is_tried_the_configured_number_of_times_and_its_last_answer_returned(
    provider, stopped_clock, attempts
):
    provider.reply("/read", Reply(503, b'{"n": 1}'))

    response = read(client(provider, PROVIDER_MAX_ATTEMPTS=attempts))

    assert (response.status, response.body) == (503, {"n": 1})
    assert len(provider.requests("/read")) == attempts


def test_retries_back_off_exponentially_with_jitter(provider, stopped_clock, jitter_midpoint):
    provider.reply("/read", Reply(503, b"{}"))

    read(client(provider, PROVIDER_MAX_ATTEMPTS=5))

    # Each wait is drawn from [0, 0.2 s x 2^(retry - 1)] (capped at 2 s): here the middle of each range
    assert stopped_clock.slept == [0.1, 0.2, 0.4, 0.8]


def test_a_provider_rate_limit_in_its_body_is_retried_like_a_429_for_a_read_only(provider, stopped_clock):
    # Given a provider that signals its rate limit with a code in a 200 answer
    limited = Reply(200, b'{"code": 1005}')
    provider.reply("/read", limited, OK)
    provider.reply("/write", limited, OK)
    http = client(provider)

    def throttled(response):
        return (response.body or {}).get("code") == 1005

    # Then a read is retried past it, and a write answers it, marked as a rate limit
    assert read(http, throttled=throttled).body == {"ok": True}
    answer = write(http, throttled=throttled)
    assert (answer.status, answer.throttled) == (200, True)
    assert (len(provider.requests("/read")), len(provider.requests("/write"))) == (2, 1)


def test_an_answer_the_throttle_check_does_not_recognise_is_returned_as_it_is(provider, stopped_clock):
    provider.reply("/read", Reply(200, b'{"code": 7}'), OK)

    answer = read(client(provider), throttled=lambda response: False)

    assert (answer.body, answer.throttled) == ({"code": 7}, False)
    assert len(provider.requests("/read")) == 1


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"name": "JOSÉ ÑANDÚ"}'.encode(), "text/plain"),
        ('{"name": "JOSÉ ÑANDÚ"}'.encode(), None),
        ('{"name": "JOSÉ ÑANDÚ"}'.encode(), "application/json"),
        ('{"name": "JOSÉ ÑANDÚ"}'.encode(), 'text/html; charset="UTF-8"'),
        ('{"name": "JOSÉ ÑANDÚ"}'.encode("iso-8859-1"), "text/plain; charset=ISO-8859-1"),
        ('{"name": "JOSÉ ÑANDÚ"}'.encode("utf-16"), "application/json; charset=utf-16"),
        ('{"name": "JOSÉ ÑANDÚ"}'.encode(), "application/json; charset=no-such-charset"),
        ('{"name": "JOSÉ ÑANDÚ"}'.encode(), "application/json; charset=idna"),  # a codec, not a charset
        (b"\xef\xbb\xbf" + '{"name": "JOSÉ ÑANDÚ"}'.encode(), None),  # a byte-order mark
    ],
    ids=["text", "no-type", "json", "html", "latin1", "utf16", "unknown-charset", "not-a-charset", "bom"],
)
def test_an_answer_is_read_in_its_declared_charset_else_as_utf_8(provider, stopped_clock, body, content_type):
    provider.reply("/read", Reply(200, body, content_type))

    answer = read(client(provider))

    assert (answer.text, answer.body) == ('{"name": "JOSÉ ÑANDÚ"}', {"name": "JOSÉ ÑANDÚ"})


@pytest.mark.parametrize(
    ("body", "content_type", "text"),
    [
        (
            '{"a": "JOSÉ", "b": "O'.encode() + b"\x92" + b'Brien"}',
            "application/json",
            '{"a": "JOSÉ", "b": "O\ufffdBrien"}',
        ),
        (b'{"b": "O\x92Brien"}', "text/plain; charset=windows-1252", '{"b": "O\u2019Brien"}'),
        (b'{"b": "O\x81Brien"}', "text/plain; charset=windows-1252", '{"b": "O\ufffdBrien"}'),
    ],
    ids=["a stray byte", "windows-1252", "undefined in windows-1252"],
)
def test_a_byte_its_charset_cannot_read_is_replaced_and_the_rest_read_as_written(
    provider, stopped_clock, body, content_type, text
):
    provider.reply("/read", Reply(200, body, content_type))

    assert read(client(provider)).text == text


def test_a_byte_its_declared_charset_cannot_read_is_replaced_in_that_charset_not_the_answer_read_as_utf_8(
    provider, stopped_clock
):
    provider.reply("/read", Reply(200, b'{"b": "O\x92Brien \x81"}', "text/plain; charset=windows-1252"))

    assert read(client(provider)).text == '{"b": "O\u2019Brien \ufffd"}'


def test_an_answer_tells_when_the_attempt_it_answers_was_sent(provider, stopped_clock, jitter_midpoint):
    # Given a read answered 503, then 200 after the backoff
    provider.reply("/read", Reply(503, b"{}"), OK)
    started = stopped_clock.now()

    answer = read(client(provider))

    # Then its time is the second attempt's, sent after the wait, not the first's
    assert stopped_clock.slept and answer.sent_at == started + sum(stopped_clock.slept)


def test_an_answer_tells_when_it_came_after_its_request_was_sent(provider):
    provider.reply("/read", Reply(200, b"{}", delay=0.3))
    before = time.time()

    answer = read(client(provider))

    assert before <= answer.sent_at and answer.received_at <= time.time()
    assert answer.received_at - answer.sent_at >= 0.3  # the provider's time to answer lies between them


def test_a_429_is_a_rate_limit_whoever_answers_it(provider, stopped_clock):
    provider.reply("/write", Reply(429, b"{}"))

    assert write(client(provider)).throttled
    assert not write(client(provider), path="/other").throttled  # the fake's 404


def test_each_attempt_is_logged_with_its_status_and_how_long_it_took(provider, stopped_clock, logs):
    # Given a provider taking 0.25 s (on the gateway's clock) to answer 503, then answering 200 at once
    provider.wait = stopped_clock.advance
    provider.reply("/read", Reply(503, b"{}", delay=0.25), OK)
    stopped_clock.advance(100)

    read(client(provider))

    fields = ("provider", "operation", "status", "elapsed_ms")
    assert [{name: call[name] for name in fields} for call in log_lines(logs(), "provider call")] == [
        {"provider": "test", "operation": "read", "status": 503, "elapsed_ms": 250.0},
        {"provider": "test", "operation": "read", "status": 200, "elapsed_ms": 0.0},
    ]


# --- Retry-After and the budget -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_after", "waited"), [("1", 1.0), ("2", 2.0), ("0", 0.1), ("Wed, 21 Oct 2026 07:28:00 GMT", 0.1)]
)
def test_a_retry_after_up_to_two_seconds_is_waited_for_otherwise_the_own_backoff(
    provider, stopped_clock, jitter_midpoint, retry_after, waited
):
    provider.reply("/read", Reply(429, b"{}", headers=(("Retry-After", retry_after),)), OK)

    assert read(client(provider)).status == 200

    assert stopped_clock.slept == [waited]  # the longer of the provider's pause and the gateway's backoff (0.1 s)


@pytest.mark.parametrize("retry_after", ["2.5", "120"])
def test_a_retry_after_longer_than_a_caller_should_wait_is_answered_at_once(provider, stopped_clock, retry_after):
    provider.reply("/read", Reply(503, b"{}", headers=(("Retry-After", retry_after),)), OK)

    answer = read(client(provider))

    assert (answer.status, answer.headers["Retry-After"]) == (503, retry_after)
    assert (len(provider.requests("/read")), stopped_clock.slept) == (1, [])


def test_a_retry_is_made_when_it_leaves_exactly_a_connect_timeout_of_the_budget(provider, stopped_clock):
    # Given a 2 s budget, 1 s connect timeout, and a provider asking for a 1 s pause, at some point in time
    provider.reply("/read", Reply(503, b"{}", headers=(("Retry-After", "1"),)), OK)
    http = client(provider, PROVIDER_BUDGET_SECONDS=2, PROVIDER_CONNECT_TIMEOUT_SECONDS=1)
    stopped_clock.advance(100)

    # Then the retry is made: after the pause, a connect timeout's worth of the budget is left
    assert read(http).status == 200
    assert stopped_clock.slept == [1.0]


@pytest.mark.parametrize(("connect", "budget"), [(1.5, 2), (1, 1.9)])
def test_no_retry_is_made_that_would_leave_less_than_a_connect_timeout_of_the_budget(
    provider, stopped_clock, connect, budget
):
    provider.reply("/read", Reply(503, b"{}", headers=(("Retry-After", "1"),)), OK)
    http = client(provider, PROVIDER_BUDGET_SECONDS=budget, PROVIDER_CONNECT_TIMEOUT_SECONDS=connect)

    assert read(http).status == 503
    assert (len(provider.requests("/read")), stopped_clock.slept) == (1, [])


def test_a_retry_waits_only_for_what_is_left_of_the_budget(provider, stopped_clock):
    # Given a 1.3 s budget, a first answer asking for a 1 s pause, and a second answer taking 1 s to come
    provider.reply("/read", Reply(503, b"{}", headers=(("Retry-After", "1"),)), Reply(200, b"{}", delay=1))
    http = client(provider, PROVIDER_BUDGET_SECONDS=1.3, PROVIDER_CONNECT_TIMEOUT_SECONDS=0.1)

    # Then the retry gives up after the 0.3 s left, not the 10 s read timeout
    with pytest.raises(ProviderTimeout):
        read(http)
    assert len(provider.requests("/read")) == 2


# --- a write's outcome ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "unknown"),
    [
        (Reply(504, b'{"message": "Endpoint request timed out"}'), True),  # a gateway in front timed out
        (Reply(502, b"<html>Bad Gateway</html>", HTML), True),  # a proxy's own page: it cannot know
        (Reply(502, b'{"error": "upstream refused"}'), False),  # the provider's own 502 says what failed
        (Reply(503, b"<html>Unavailable</html>", HTML), True),  # a mesh's upstream reset after forwarding, too
        (Reply(500, b"<html>Internal Server Error</html>", HTML), True),  # a framework's page: failed mid-request
        (Reply(500, b""), True),
        (Reply(500, b"{}"), False),
        (Reply(400, b"{}"), False),  # the provider refusing: just past the redirects
        (Reply(200, b"{}"), False),
    ],
)
def test_a_write_answered_by_something_in_front_of_the_provider_has_an_unknown_outcome(
    provider, stopped_clock, answer, unknown
):
    provider.reply("/write", answer)
    provider.reply("/read", answer)
    http = client(provider)

    assert write(http).outcome_unknown is unknown
    assert not read(http).outcome_unknown  # a read has no outcome to be unsure about


@pytest.mark.parametrize("status", [300, 301, 302, 303, 307, 308, 399])
def test_a_redirect_is_never_followed_and_a_redirected_write_has_an_unknown_outcome(provider, stopped_clock, status):
    # Given a provider (or something in front of it) redirecting reads and writes to another address
    elsewhere = (("Location", provider.url + "/elsewhere"),)
    provider.reply("/write", Reply(status, b"", None, headers=elsewhere))
    provider.reply("/read", Reply(status, b"", None, headers=elsewhere))
    provider.reply("/elsewhere", OK)
    http = client(provider)

    with pytest.raises(ProviderBadResponse) as written:
        write(http)
    with pytest.raises(ProviderBadResponse) as was_read:
        read(http)

    # Then neither is sent again, there or here: a 502 naming the redirect, and a write that may have been done (a
    # 303, and a 302 as servers use it, answer a POST that was) is never sent again under its key
    assert provider.requests("/elsewhere") == []
    assert len(provider.requests("/write")) == len(provider.requests("/read")) == 1
    assert (written.value.status, written.value.provider_status, written.value.provider) == (502, status, "test")
    assert written.value.outcome_unknown and not was_read.value.outcome_unknown
    assert was_read.value.provider_status == status


def test_a_write_the_provider_answered_2xx_unreadably_was_done_a_read_was_not(provider):
    provider.reply("/write", Reply(200, b"<html>OK</html>", HTML))
    provider.reply("/read", Reply(200, b"<html>OK</html>", HTML))
    http = client(provider)

    written, was_read = write(http), read(http)

    assert written.may_have_acted and written.unusable(ProviderBadResponse).outcome_unknown
    assert (written.provider, written.status, written.unusable(ProviderBadResponse).provider) == ("test", 200, "test")
    assert not was_read.may_have_acted and not was_read.unusable(ProviderBadResponse).outcome_unknown


@pytest.mark.parametrize("status", [200, 299])
def test_a_success_in_json_that_is_not_strict_is_a_bad_response_a_writes_outcome_unknown(provider, status):
    # Given a provider answering a 2xx whose JSON holds NaN, which no strict reader takes
    provider.reply("/write", Reply(status, b'{"score": NaN}'))
    provider.reply("/read", Reply(status, b'{"score": NaN}'))
    http = client(provider)

    # When it answers a write and a read, Then each is a bad response, the write's outcome unknown
    with pytest.raises(ProviderBadResponse) as written:
        write(http)
    with pytest.raises(ProviderBadResponse) as was_read:
        read(http)
    assert (written.value.provider_status, written.value.outcome_unknown) == (status, True)
    assert (was_read.value.provider_status, was_read.value.outcome_unknown) == (status, False)


def test_a_refusal_in_json_that_is_not_strict_is_left_to_the_providers_module(provider):
    provider.reply("/read", Reply(400, b'{"score": NaN}'))

    assert read(client(provider)).status == 400  # its module reads what it can of a refusal
