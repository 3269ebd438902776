"""The provider HTTP client when no answer comes: what is retried (a request certainly not sent, or a read), what a
write's caller is told (its outcome is unknown once it may have reached the provider), what each attempt logs, and
what the circuit breaker counts."""

from __future__ import annotations

import contextlib
import gzip
import time

import pytest
import urllib3.util.connection

from kyc_gateway.errors import ProviderCircuitOpen, ProviderTimeout, ProviderUnavailable
from kyc_gateway.http import ProviderHttp
from kyc_gateway.settings import Settings
from tests.support.emf import log_lines
from tests.support.fake_provider import Reply
from tests.support.unreachable import refused_url, silent_url, unaccepted_url

OK = Reply(200, b'{"ok": true}')
SHORT = {"PROVIDER_CONNECT_TIMEOUT_SECONDS": 0.2, "PROVIDER_READ_TIMEOUT_SECONDS": 0.2}
SLOW = Reply(200, b"{}", delay=2)  # well past SHORT's read timeout, so an elapsed time tells which ended the call


def call(url: str, *, idempotent: bool, **settings):
    http = ProviderHttp("test", url, Settings(**settings))
    return http.post("/op", operation="op", idempotent=idempotent, json_body={})


def proxy_everything_through(proxy: str, monkeypatch) -> None:
    """HTTP and HTTPS proxy `proxy` named in the environment as requests reads it (either spelling), for every host."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, proxy)
        monkeypatch.setenv(name.lower(), proxy)
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def attempts(logs) -> list:
    """The status each attempt logged (outside a request, each provider call is its own line)."""
    calls = log_lines(logs(), "provider call")
    assert {(call["provider"], call["operation"]) for call in calls} <= {("test", "op")}
    return [call["status"] for call in calls]


# --- never sent: retried, whatever the method -------------------------------------------------------------------------


@pytest.fixture(name="connections")
def counted_connections(monkeypatch) -> list[tuple[str, int]]:
    """Every connection the provider client opens (urllib3's, under requests), counted on the way."""
    opened: list[tuple[str, int]] = []
    open_connection = urllib3.util.connection.create_connection

    def counted(address, *args, **kwargs):
        opened.append(address)
        return open_connection(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", counted)
    return opened


@pytest.mark.parametrize("idempotent", [True, False])
def test_a_refused_connection_is_retried_and_the_request_known_not_sent(stopped_clock, logs, connections, idempotent):
    with pytest.raises(ProviderUnavailable) as raised:
        call(refused_url(), idempotent=idempotent)

    # Then each of the three attempts is one connection: nothing under the gateway retries on its own
    assert attempts(logs) == ["unreachable"] * 3 and len(connections) == 3
    assert (raised.value.provider, raised.value.outcome_unknown) == ("test", False)
    assert raised.value.status == 502


def test_an_https_provider_refusing_connections_gets_one_connection_per_attempt(stopped_clock, logs, connections):
    with pytest.raises(ProviderUnavailable):
        call(refused_url().replace("http://", "https://"), idempotent=True)

    assert attempts(logs) == ["unreachable"] * 3 and len(connections) == 3


@pytest.mark.parametrize("idempotent", [True, False])
def test_a_connect_timeout_is_retried_and_the_request_known_not_sent(stopped_clock, logs, idempotent):
    # Given a provider that never accepts the connection, a 0.1 s connect timeout and a 5 s read timeout
    started = time.monotonic()
    with unaccepted_url() as url, pytest.raises(ProviderTimeout) as raised:
        call(url, idempotent=idempotent, PROVIDER_CONNECT_TIMEOUT_SECONDS=0.1, PROVIDER_READ_TIMEOUT_SECONDS=5)

    # Then each of the three attempts gave up after the connect timeout, and nothing can have been done
    assert attempts(logs) == ["timeout"] * 3
    assert time.monotonic() - started < 2
    assert (raised.value.provider, raised.value.outcome_unknown) == ("test", False)


def test_a_tls_handshake_that_times_out_is_retried_and_the_request_known_not_sent(stopped_clock, logs):
    # Given a provider that accepts the connection and never answers the TLS handshake, and a write
    with silent_url("https") as url, pytest.raises(ProviderTimeout) as raised:
        call(url, idempotent=False, PROVIDER_CONNECT_TIMEOUT_SECONDS=0.2, PROVIDER_READ_TIMEOUT_SECONDS=5)

    # Then each attempt ended at the connect timeout, as a connect timeout: nothing of the write was sent
    assert attempts(logs) == ["timeout"] * 3 and not raised.value.outcome_unknown


def test_a_write_cut_off_behind_a_proxy_after_it_went_out_is_never_sent_again(provider, logs, monkeypatch):
    # Given a forward proxy named in the environment (played by the double), and a provider that drops the connection
    # once it has read the write
    target = "http://provider.invalid:8080"
    provider.reply(target + "/op", Reply(reset=True), OK)
    proxy_everything_through(provider.url, monkeypatch)

    with pytest.raises(ProviderUnavailable) as raised:
        call(target, idempotent=False)

    # Then the write is sent once, its outcome unknown (urllib3 blames the proxy: its connection looks never made)
    assert raised.value.outcome_unknown and len(provider.requests(target + "/op")) == 1
    assert attempts(logs) == ["unreachable"]


def test_a_proxy_refusing_connections_is_retried_and_the_request_known_not_sent(stopped_clock, logs, monkeypatch):
    # Given a proxy named in the environment that refuses connections
    proxy_everything_through(refused_url(), monkeypatch)

    with pytest.raises(ProviderUnavailable) as raised:
        call("http://provider.invalid:8080", idempotent=False)

    # Then the write was tried three times, and is known not sent
    assert attempts(logs) == ["unreachable"] * 3 and not raised.value.outcome_unknown


def test_a_proxy_refusing_the_tunnel_is_retried_and_the_request_known_not_sent(
    provider, stopped_clock, logs, monkeypatch
):
    # Given a proxy named in the environment (played by the double) that refuses to open a tunnel to the provider
    provider.reply("provider.invalid:443", Reply(403, b""), method="CONNECT")
    proxy_everything_through(provider.url, monkeypatch)

    with pytest.raises(ProviderUnavailable) as raised:
        call("https://provider.invalid", idempotent=False)

    # Then the write was tried three times, each a tunnel asked for and refused, and is known not sent
    assert [request.method for request in provider.requests()] == ["CONNECT"] * 3
    assert attempts(logs) == ["unreachable"] * 3 and not raised.value.outcome_unknown


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_an_attempt_that_cannot_connect_ends_with_the_budget_however_long_the_connect_timeout(
    stopped_clock, logs, scheme
):
    # Given a provider that never accepts the connection, a 2 s connect timeout but only 0.4 s of budget
    started = time.monotonic()
    with unaccepted_url(scheme) as url, pytest.raises(ProviderTimeout):
        call(url, idempotent=True, PROVIDER_CONNECT_TIMEOUT_SECONDS=2, PROVIDER_BUDGET_SECONDS=0.4)

    # Then the one attempt (no time for another) gave up when the budget ran out, and tried to connect once only
    assert 0.35 < time.monotonic() - started < 1.5  # the budget, not the 2 s connect timeout (a slow machine's slack)
    assert attempts(logs) == ["timeout"]


# --- sent, no answer: a read is retried, a write's outcome is unknown -------------------------------------------------


def test_a_read_timeout_is_not_retried(provider, stopped_clock, logs):
    # Given a provider slower than the read timeout
    provider.reply("/op", SLOW, OK)

    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as raised:
        call(provider.url, idempotent=True, **SHORT)

    # Then the gateway gave up after the read timeout, once: the provider is already slow
    assert time.monotonic() - started < 1.5  # not the 2 s answer
    assert attempts(logs) == ["timeout"] and len(provider.requests("/op")) == 1
    assert (raised.value.provider, raised.value.outcome_unknown) == ("test", False)


def test_a_write_that_timed_out_reading_has_an_unknown_outcome(provider, stopped_clock, logs):
    provider.reply("/op", SLOW, OK)

    with pytest.raises(ProviderTimeout) as raised:
        call(provider.url, idempotent=False, **SHORT)

    assert raised.value.outcome_unknown
    assert attempts(logs) == ["timeout"] and len(provider.requests("/op")) == 1


def test_a_whole_body_read_leaves_its_connection_for_the_next_call(provider, stopped_clock, connections):
    # Given a provider answering two calls
    provider.reply("/op", OK)
    http = ProviderHttp("test", provider.url, Settings())

    # When the client calls it twice, each answer read in full
    answers = [http.post("/op", operation="op", idempotent=True, json_body={}) for _ in range(2)]

    # Then both answers are whole, over one kept-alive connection
    assert [answer.body for answer in answers] == [{"ok": True}] * 2 and len(connections) == 1


def test_a_compressed_answer_is_read_as_its_content_encoding_says(provider, stopped_clock):
    # Given a provider answering gzip-compressed JSON, and then a body its Content-Encoding does not fit
    packed = Reply(200, gzip.compress(b'{"ok": true}'), headers=(("Content-Encoding", "gzip"),))
    provider.reply("/op", packed, Reply(200, b'{"ok": true}', headers=(("Content-Encoding", "gzip"),)))
    http = ProviderHttp("test", provider.url, Settings())

    # When the client calls it, Then the first answer is the decompressed JSON
    assert http.post("/op", operation="op", idempotent=False, json_body={}).body == {"ok": True}
    # And a body that does not decompress is a broken answer, after which a write's outcome is unknown
    with pytest.raises(ProviderUnavailable) as raised:
        http.post("/op", operation="op", idempotent=False, json_body={})
    assert raised.value.outcome_unknown


@pytest.mark.parametrize(
    ("fault", "logged"), [(Reply(reset=True), "unreachable"), (Reply(200, b"{}" * 50, cut=True), "broken")]
)
def test_a_read_cut_off_after_it_was_sent_is_retried(provider, stopped_clock, logs, fault, logged):
    provider.reply("/op", fault, OK)

    assert call(provider.url, idempotent=True).body == {"ok": True}

    assert attempts(logs) == [logged, 200]


@pytest.mark.parametrize(
    ("fault", "logged"), [(Reply(reset=True), "unreachable"), (Reply(200, b"{}" * 50, cut=True), "broken")]
)
def test_a_read_cut_off_every_time_is_unavailable_with_nothing_to_be_unsure_about(
    provider, stopped_clock, logs, fault, logged
):
    provider.reply("/op", fault)

    with pytest.raises(ProviderUnavailable) as raised:
        call(provider.url, idempotent=True)

    assert attempts(logs) == [logged] * 3
    assert (raised.value.provider, raised.value.outcome_unknown) == ("test", False)


@pytest.mark.parametrize(
    ("fault", "logged"), [(Reply(reset=True), "unreachable"), (Reply(200, b"{}" * 50, cut=True), "broken")]
)
def test_a_write_cut_off_after_it_was_sent_is_not_retried_and_its_outcome_unknown(
    provider, stopped_clock, logs, fault, logged
):
    provider.reply("/op", fault, OK)

    with pytest.raises(ProviderUnavailable) as raised:
        call(provider.url, idempotent=False)

    assert attempts(logs) == [logged] and len(provider.requests("/op")) == 1
    assert (raised.value.provider, raised.value.outcome_unknown) == ("test", True)


# --- what the circuit breaker counts --------------------------------------------------------------------------------


def breaker_test_client(url: str, **settings) -> ProviderHttp:
    return ProviderHttp("test", url, Settings(PROVIDER_CIRCUIT_FAILURES=2, **settings))


def post(http: ProviderHttp, idempotent: bool = True, **options):
    return http.post("/op", operation="op", idempotent=idempotent, json_body={}, **options)


@pytest.mark.parametrize("idempotent", [True, False])
@pytest.mark.parametrize(
    ("failure", "settings"),
    [(Reply(503, b"{}"), {}), (Reply(429, b"{}"), {}), (SLOW, SHORT), (Reply(reset=True), {})],
    ids=["5xx", "429", "timeout", "unreachable"],
)
def test_consecutive_failed_calls_open_the_circuit_and_calls_then_fail_fast(
    provider, stopped_clock, failure, settings, idempotent
):
    provider.reply("/op", failure)
    http = breaker_test_client(provider.url, **settings)

    # Given as many failed calls as the threshold (each after its retries): an error answer or no answer
    for _ in range(2):
        with contextlib.suppress(ProviderTimeout, ProviderUnavailable):
            assert post(http, idempotent).status in (429, 503)
    sent = len(provider.requests("/op"))

    # Then the next call fails fast, without reaching the provider
    with pytest.raises(ProviderCircuitOpen) as raised:
        post(http, idempotent)
    assert len(provider.requests("/op")) == sent
    assert raised.value.provider == "test"


def test_a_rate_limit_in_the_body_counts_as_a_failure(provider, stopped_clock):
    provider.reply("/op", Reply(200, b'{"code": 1005}'))
    http = breaker_test_client(provider.url)

    for _ in range(2):
        post(http, idempotent=False, throttled=lambda response: response.body == {"code": 1005})

    with pytest.raises(ProviderCircuitOpen):
        post(http)


@pytest.mark.parametrize("answer", [OK, Reply(400, b"{}"), Reply(404, b"{}"), Reply(422, b"{}"), Reply(501, b"{}")])
def test_an_answer_that_is_not_a_provider_failure_keeps_the_circuit_closed(provider, stopped_clock, answer):
    # Given a provider answering a success or a business refusal, more often than the threshold
    provider.reply("/op", answer)
    http = breaker_test_client(provider.url)

    for _ in range(3):
        assert post(http).status == answer.status

    assert len(provider.requests("/op")) == 3


def test_a_success_between_failures_keeps_the_circuit_closed(provider, stopped_clock):
    provider.reply("/op", Reply(503, b"{}"), OK, Reply(503, b"{}"), OK)
    http = breaker_test_client(provider.url)

    assert [post(http, idempotent=False).status for _ in range(4)] == [503, 200, 503, 200]


def test_an_answer_failing_on_its_own_as_its_deadline_cut_finds_the_socket_closed_is_that_failure(
    provider, monkeypatch, logs
):
    # Given an answer that fails on its own (its connection reset) just as its deadline passes: the watchdog marks it
    # cut, then finds its socket already closed and unmarks it (nothing was cut), after the reader saw its error
    import requests

    from kyc_gateway import watchdog

    http = ProviderHttp("test", provider.url, Settings(PROVIDER_MAX_ATTEMPTS=1))

    def reset(*_, **__):
        watchdog._current.watch.cut_off = True  # the cut, begun
        raise requests.ConnectionError("connection reset by peer")

    release = watchdog.Watch.release

    def released(watch):
        watch.cut_off = False  # ... and undone: the socket was closed, nothing cut
        return release(watch)

    monkeypatch.setattr(http.session, "post", reset)
    monkeypatch.setattr(watchdog.Watch, "release", released)
    logs()

    # When it is asked, Then the caller gets the connection's failure, as with no deadline near, never a bug's
    with pytest.raises(ProviderUnavailable):
        http.post("/op", operation="op", idempotent=True, json_body={})
    assert attempts(logs) == ["unreachable"]
