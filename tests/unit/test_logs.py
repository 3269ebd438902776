"""The gateway's log lines are the ones Powertools Logger wrote before (same fields, order and formats), so log
queries, the dashboard and alarms read them unchanged; each thread's invocation keeps its own keys."""

from __future__ import annotations

import io
import itertools
import json
import logging
import re
import threading
from types import SimpleNamespace

import pytest
from aws_lambda_powertools import Logger as PowertoolsLogger

from kyc_gateway import logs
from kyc_gateway.logs import Logger

NAMES = itertools.count()
CONTEXT = SimpleNamespace(
    function_name="kyc-gateway-dev-cladfy",
    memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:kyc-gateway-dev-cladfy",
    aws_request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
)


def lines_of(logger, handler_stream: io.StringIO, calls) -> list[dict]:
    @logger.inject_lambda_context(clear_state=True)
    def handler(event, context):
        logger.set_correlation_id("corr-1")
        calls(logger)

    handler({}, CONTEXT)
    return [json.loads(line) for line in handler_stream.getvalue().splitlines()]


def ours(service: str = "kyc-gateway") -> tuple[Logger, io.StringIO]:
    logger = Logger(f"{service}-{next(NAMES)}")  # a stdlib logger (and handler) of its own
    stream = io.StringIO()
    logger.stdlib.handlers[0].setStream(stream)
    logger.formatter.service = service
    return logger, stream


def calls(logger) -> None:
    logger.info("request completed", route="cladfy.krapin", status=200, code="ok", provider_calls=[{"a": 1}])
    logger.warning("token not shared", key="cladfy#abc", error=None)
    logger.error("unhandled error", route="cladfy.krapin", error="KeyError")


@pytest.mark.parametrize("trace", [None, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"])
def test_a_line_has_the_fields_order_and_formats_of_a_powertools_line(monkeypatch, trace):
    # Given the same calls made through Powertools Logger and through the gateway's logger
    if trace:
        monkeypatch.setenv("_X_AMZN_TRACE_ID", trace)
    powertools_stream = io.StringIO()
    service = f"compared-{next(NAMES)}"  # a logger name of its own, every run: Powertools skips one already set up
    powertools = PowertoolsLogger(service=service, logger_handler=logging.StreamHandler(powertools_stream))
    expected = lines_of(powertools, powertools_stream, calls)
    logger, stream = ours(service)

    # When both write them
    written = lines_of(logger, stream, calls)

    # Then the lines agree field by field, in order (the caller's location included), but for the moment of
    # writing, in the same format, and which logger's first invocation it was
    timestamp = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}[+-]\d{4}")
    assert len(written) == len(expected) == 3
    for line, powertools_line in zip(written, expected, strict=True):
        assert list(line) == list(powertools_line)
        assert timestamp.fullmatch(line.pop("timestamp")) and timestamp.fullmatch(powertools_line.pop("timestamp"))
        line.pop("cold_start"), powertools_line.pop("cold_start")
        assert line == powertools_line
    assert written[0]["location"].startswith("calls:")


def test_a_line_written_straight_to_the_stream_is_the_line_the_stdlib_path_writes():
    # Given the logger writing straight to its stream, and one whose handler has a filter (which only the stdlib's
    # handler chain applies: that logger goes through the LogRecord path)
    direct, direct_stream = ours("kyc-gateway")
    through_stdlib, stdlib_stream = ours("kyc-gateway")
    through_stdlib.stdlib.handlers[0].addFilter(lambda record: True)

    # When both write the same lines
    written, expected = lines_of(direct, direct_stream, calls), lines_of(through_stdlib, stdlib_stream, calls)

    # Then they agree field by field, in order, the caller's location included, but for the moment of writing
    assert len(written) == len(expected) == 3
    for line, stdlib_line in zip(written, expected, strict=True):
        assert list(line) == list(stdlib_line)
        line.pop("timestamp"), stdlib_line.pop("timestamp"), line.pop("cold_start"), stdlib_line.pop("cold_start")
        assert line == stdlib_line


def test_a_line_that_cannot_be_written_never_fails_the_request_and_is_never_written_twice(monkeypatch):
    # Given the logger writing straight to its stream, a field JSON cannot hold, and a stream whose flush fails
    logger, stream = ours()
    monkeypatch.setattr(logging, "raiseExceptions", False)  # as on Lambda: a logging error is reported, not raised
    circular: dict = {}
    circular["self"] = circular

    # When it logs them, and a message that is not text
    logger.info("cannot be encoded", data={(1, 2): 3}, loop=circular)
    logger.info(5)
    flushing = io.StringIO()
    flushing.flush = lambda: (_ for _ in ()).throw(OSError("stream closed"))
    logger.stdlib.handlers[0].setStream(flushing)
    logger.info("written once")

    # Then the request goes on; the message is written as text, as the stdlib writes it; the line whose flush failed
    # is in the stream once
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == ["5"]
    assert flushing.getvalue().count("written once") == 1


def test_cold_start_is_true_for_an_instances_first_invocation_only(monkeypatch):
    monkeypatch.setitem(logs._instance, "cold", True)  # a new instance
    logger, stream = ours()

    lines_of(logger, stream, calls)
    lines_of(logger, stream, calls)

    assert [line["cold_start"] for line in map(json.loads, stream.getvalue().splitlines())] == [True] * 3 + [False] * 3


def test_concurrent_invocations_keep_their_own_correlation_ids():
    # Given two threads serving invocations at once (as the local stack does)
    logger, stream = ours()
    both_started = threading.Barrier(2)

    def serve(correlation_id: str) -> None:
        @logger.inject_lambda_context(clear_state=True)
        def handler(event, context):
            logger.set_correlation_id(correlation_id)
            both_started.wait()
            logger.info("request completed", mine=correlation_id)

        handler({}, CONTEXT)

    threads = [threading.Thread(target=serve, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then each line carries its own invocation's correlation id
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert sorted(line["correlation_id"] for line in lines) == ["one", "two"]
    assert all(line["correlation_id"] == line["mine"] for line in lines)


@pytest.mark.parametrize(
    ("variables", "levels"),
    [
        ({"POWERTOOLS_LOG_LEVEL": "WARNING"}, ["WARNING", "ERROR"]),
        ({"AWS_LAMBDA_LOG_LEVEL": "ERROR", "POWERTOOLS_LOG_LEVEL": "INFO"}, ["ERROR"]),  # Lambda's controls win
        ({"POWERTOOLS_LOG_LEVEL": "", "LOG_LEVEL": "warn"}, ["WARNING", "ERROR"]),
        ({"POWERTOOLS_LOG_LEVEL": "loud"}, ["INFO", "WARNING", "ERROR"]),  # not a level: the default
    ],
)
def test_the_level_is_read_as_powertools_reads_it(monkeypatch, variables, levels):
    for name in ("AWS_LAMBDA_LOG_LEVEL", "POWERTOOLS_LOG_LEVEL", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    logger, stream = ours()

    lines_of(logger, stream, calls)

    assert [json.loads(line)["level"] for line in stream.getvalue().splitlines()] == levels


def test_a_field_never_replaces_the_lines_own_keys_and_a_traceback_is_refused():
    logger, stream = ours()

    lines_of(logger, stream, lambda log: log.info("m", level="tier-2", timestamp="x", tier="gold"))

    line = json.loads(stream.getvalue())
    assert (line["level"], line["message"], line["tier"]) == ("INFO", "m", "gold") and line["timestamp"] != "x"
    with pytest.raises(TypeError, match="exc_info"):
        logger.error("failed", exc_info=True)
