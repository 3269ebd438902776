"""Structured JSON log lines, one per event, in the shape Powertools Logger writes them.

Hand-written rather than Powertools Logger: importing it costs about 5.5 ms of CPU on every cold start with boto3
already loaded (its package also imports Powertools Metrics and Tracer), 2.5% of the lightest cold first request
(`make bench-copies`, docs/performance.md). The gateway writes a handful of lines per request; this module
keeps every field the Powertools lines had, in the same order and format, so queries, dashboards and alarms read
them unchanged: level, location, message, timestamp, service, cold_start, function_name, function_memory_size,
function_arn, function_request_id, correlation_id, the line's own fields, xray_trace_id. The level is
AWS_LAMBDA_LOG_LEVEL (Lambda's logging controls), else POWERTOOLS_LOG_LEVEL, else LOG_LEVEL, else INFO, as
Powertools reads them. Unlike Powertools: the Lambda context and correlation id are kept per thread, so the local
stack's concurrent requests never show each other's; a message is never parsed as JSON; and a call asking for a
traceback (`exc_info`) is refused, since a traceback may hold personal data.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

_REFUSED = frozenset({"exc_info", "stack_info", "stacklevel", "extra"})  # stdlib arguments, never fields
_OWN = frozenset({"level", "location", "message", "timestamp", "xray_trace_id"})  # a field never replaces these


class _Invocation(threading.local):
    keys: dict[str, Any] | None = None  # cold_start, the Lambda context's fields, correlation_id


_invocation = _Invocation()  # one per process and thread, whichever Logger writes
_instance = {"cold": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "provisioned-concurrency"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        location = f"{record.funcName}:{record.lineno}"
        fields = getattr(record, "fields", {})
        return self.line(record.levelname, location, record.getMessage(), self.formatTime(record), fields)

    def line(self, level: str, location: str, message: str, timestamp: str, fields: dict[str, Any]) -> str:
        line = {
            "level": level,
            "location": location,
            "message": message,
            "timestamp": timestamp,
            "service": self.service,
            **(_invocation.keys or {}),
            **{key: value for key, value in fields.items() if key not in _OWN},
        }
        trace = os.environ.get("_X_AMZN_TRACE_ID")
        line["xray_trace_id"] = trace.split(";")[0].replace("Root=", "") if trace else None
        return json.dumps(
            {key: value for key, value in line.items() if value is not None},
            default=str,
            separators=(",", ":"),
            ensure_ascii=False,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - stdlib's name
        return timestamp(record.created, int(record.msecs))


def timestamp(created: float, msecs: int) -> str:
    """2026-11-23 02:35:04,095+0000, as Powertools writes it (local time: UTC on Lambda)."""
    moment = time.localtime(created)
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', moment)},{msecs:03d}{time.strftime('%z', moment)}"


class _StdoutHandler(logging.StreamHandler):
    """Writes to sys.stdout as it is when a line is written, not as it was when the logger was made (a test harness
    replaces it for a while); `setStream` still pins another stream."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)  # not StreamHandler's, which would pin stderr
        self._pinned: Any = None

    @property
    def stream(self) -> Any:
        return self._pinned if self._pinned is not None else sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        self._pinned = value


class Logger:
    """`info`/`warning`/`error(message, **fields)`; `inject_lambda_context` around a handler; `set_correlation_id`."""

    def __init__(self, service: str) -> None:
        self.stdlib = logging.getLogger(service)
        self.stdlib.propagate = False
        self.stdlib.setLevel(_level())
        if not self.stdlib.handlers:
            handler = _StdoutHandler()
            handler.setFormatter(JsonFormatter(service))
            self.stdlib.addHandler(handler)
        self.formatter = self.stdlib.handlers[0].formatter
        self._own_handler = self.stdlib.handlers[0]

    def info(self, message: str, **fields: Any) -> None:
        self._log(logging.INFO, message, fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._log(logging.WARNING, message, fields)

    def error(self, message: str, **fields: Any) -> None:
        self._log(logging.ERROR, message, fields)

    def _log(self, level: int, message: str, fields: dict[str, Any]) -> None:
        if _REFUSED & fields.keys():
            raise TypeError(f"log fields may not be named {sorted(_REFUSED & fields.keys())}")
        if not self.stdlib.isEnabledFor(level):
            return
        handler = self._own_handler
        straight = (
            self.stdlib.handlers == [handler]
            and not (self.stdlib.filters or handler.filters)
            and level >= handler.level
            and handler.formatter is self.formatter
        )
        if straight:
            # The line written straight to the handler's stream: the stdlib's record (its caller lookup, LogRecord,
            # handler chain) cost more CPU than the line itself on a warm request (make bench). Lines are the same;
            # a line that cannot be written takes the stdlib's path, which reports it its own way (handleError).
            caller = sys._getframe(2)  # the location is the caller's, as stacklevel=3 finds it
            now = time.time_ns()
            try:
                line = self.formatter.line(
                    logging.getLevelName(level),
                    f"{caller.f_code.co_name}:{caller.f_lineno}",
                    str(message),
                    timestamp(now / 1e9, (now % 1_000_000_000) // 1_000_000),
                    fields,
                )
            except Exception:  # noqa: BLE001 - a field JSON cannot hold: the stdlib's path reports it
                line = None
            if line is not None:
                with handler.lock:
                    try:
                        handler.stream.write(line + handler.terminator)
                        handler.stream.flush()
                    except Exception:  # noqa: BLE001 - a stream that fails: reported once, never written twice
                        handler.handleError(self.stdlib.makeRecord(self.stdlib.name, level, "", 0, message, (), None))
                return
        self.stdlib.log(level, message, extra={"fields": fields}, stacklevel=3)  # the location is the caller's

    def set_correlation_id(self, value: str | None) -> None:
        _invocation.keys = {**(_invocation.keys or {}), "correlation_id": value}

    def inject_lambda_context(self, *, clear_state: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Each invocation's lines carry cold_start (true for an instance's first) and the Lambda context's fields;
        with `clear_state`, nothing set in an earlier invocation."""

        def decorator(handler: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(handler)
            def decorated(event: Any, context: Any) -> Any:
                cold, _instance["cold"] = _instance["cold"], False
                keys = {} if clear_state else dict(_invocation.keys or {})
                _invocation.keys = keys | {
                    "cold_start": cold,
                    "function_name": getattr(context, "function_name", None),
                    "function_memory_size": getattr(context, "memory_limit_in_mb", None),
                    "function_arn": getattr(context, "invoked_function_arn", None),
                    "function_request_id": getattr(context, "aws_request_id", None),
                }
                return handler(event, context)

            return decorated

        return decorator


def _level() -> str:
    level = next(
        (
            os.environ[name]
            for name in ("AWS_LAMBDA_LOG_LEVEL", "POWERTOOLS_LOG_LEVEL", "LOG_LEVEL")
            if os.environ.get(name)
        ),
        "INFO",
    ).upper()
    return level if isinstance(logging.getLevelName(level), int) else "INFO"
