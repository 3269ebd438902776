"""What a provider's answer may cost the gateway: read up to a limit, decoded, however it is compressed or however
long it goes on; past the limit it is not read on, and is a bad answer (after a write answered 2xx, its outcome
unknown). A header no request can carry is refused before anything is sent."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest

from kyc_gateway.errors import ProviderBadResponse, RequestNotBuilt
from kyc_gateway.http import ANSWER_LIMIT_BYTES
from tests.integration.test_provider_http import OK, client, read, write
from tests.support.fake_provider import Reply

# 64 MiB of JSON once decoded, 16 times the limit, in about 64 KB on the wire (and 0.2 KB compressed twice)
DECODED = b'{"message": "' + b"A" * (64 * 1024 * 1024) + b'"}'
GZIP = gzip.compress(DECODED, compresslevel=9)
BOMBS = {
    "gzip": Reply(200, GZIP, headers=(("Content-Encoding", "gzip"),)),
    "gzip twice": Reply(200, gzip.compress(GZIP, compresslevel=9), headers=(("Content-Encoding", "gzip, gzip"),)),
    "deflate": Reply(200, zlib.compress(DECODED, 9), headers=(("Content-Encoding", "deflate"),)),
    "plain, chunked": Reply(200, b"[" + b"0," * (ANSWER_LIMIT_BYTES // 2) + b"0]", chunked=True),
    "plain, its length said": Reply(200, b"[" + b"0," * (ANSWER_LIMIT_BYTES // 2) + b"0]"),
}


@pytest.mark.parametrize("answer", list(BOMBS.values()), ids=list(BOMBS))
def test_an_answer_past_the_limit_is_a_bad_answer_read_no_further(provider, answer):
    # Given a provider answering far more than the limit once decoded
    provider.reply("/read", answer, OK)
    http = client(provider)

    # When the gateway reads it
    tracemalloc.start()
    try:
        with pytest.raises(ProviderBadResponse) as raised:
            read(http)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Then it is a bad answer with its status, and the gateway held a few times the limit, never the whole answer
    assert raised.value.provider_status == 200
    assert peak < len(DECODED) / 4  # (the fake provider's own copy of the chunked answer included)
    # and the connection it left half read is not reused: the next answer is read whole
    assert read(http).body == {"ok": True}


def test_an_answer_of_the_limit_is_read_whole(provider):
    body = b'"' + b"A" * (ANSWER_LIMIT_BYTES - 2) + b'"'
    provider.reply("/read", Reply(200, gzip.compress(body), headers=(("Content-Encoding", "gzip"),)))

    assert len(read(client(provider)).text) == ANSWER_LIMIT_BYTES


def test_a_write_answered_2xx_past_the_limit_has_an_unknown_outcome(provider):
    provider.reply("/write", BOMBS["gzip"])

    with pytest.raises(ProviderBadResponse) as raised:
        write(client(provider))

    assert raised.value.outcome_unknown
    assert len(provider.requests("/write")) == 1


@pytest.mark.parametrize("token", ["t-1\r\nX-Injected: 1", "t\u20acken"], ids=["line break", "not Latin-1"])
def test_a_header_no_request_can_carry_is_refused_before_anything_is_sent_and_a_writes_outcome_stays_known(
    provider, token
):
    provider.reply("/write", OK)

    with pytest.raises(RequestNotBuilt) as raised:
        write(client(provider), headers={"Authorization": token})

    assert not raised.value.outcome_unknown
    assert provider.requests() == []
