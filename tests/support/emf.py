"""Reading what the functions wrote to stdout as CloudWatch reads it: EMF documents and their metrics, log lines."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

# CloudWatch's units (a metric definition's Unit must be one of them, spelt so, or CloudWatch drops the document)
UNITS = frozenset(
    {
        "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
        "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
        "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
        "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
    }
)  # fmt: skip
_AN_HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]  # (name, value) in the document's dimension order
    values: tuple[float, ...]  # the datapoints the document carries for it
    unit: str

    @property
    def dimension_values(self) -> dict[str, str]:
        return dict(self.dimensions)


def documents(written: str) -> list[dict]:
    """Every EMF document among the lines written, each checked against the EMF specification as CloudWatch applies
    it (a document it would not take fails here, rather than a metric missing from an alarm without a word)."""
    found = [json.loads(line) for line in written.splitlines() if line.startswith('{"_aws"')]
    for document in found:
        _check(document)
    return found


def _check(document: dict) -> None:
    metadata = document["_aws"]
    assert set(metadata) == {"Timestamp", "CloudWatchMetrics"}, metadata
    timestamp = metadata["Timestamp"]  # epoch milliseconds: CloudWatch refuses one far from now
    assert isinstance(timestamp, int) and abs(timestamp - time.time() * 1000) < _AN_HOUR_MS, timestamp
    assert metadata["CloudWatchMetrics"], document
    for directive in metadata["CloudWatchMetrics"]:
        assert set(directive) == {"Namespace", "Dimensions", "Metrics"}, directive
        assert isinstance(directive["Namespace"], str) and directive["Namespace"], directive
        for names in directive["Dimensions"]:
            assert 1 <= len(names) <= 30 and all(isinstance(document.get(name), str) for name in names), names
        for metric in directive["Metrics"]:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"} and "Unit" in metric, metric
            assert metric["Unit"] in UNITS, metric
            value = document[metric["Name"]]
            values = value if isinstance(value, list) else [value]
            assert 1 <= len(values) <= 100, metric  # CloudWatch takes at most 100 values of a metric per document
            assert all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values)


def metrics(written: str) -> list[Metric]:
    """Every metric declared by the EMF documents written, with its namespace and dimension values."""
    found = []
    for document in documents(written):
        for directive in document["_aws"]["CloudWatchMetrics"]:
            (names,) = directive["Dimensions"]
            dimensions = tuple((name, str(document[name])) for name in names)
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                values = tuple(value) if isinstance(value, list) else (value,)
                found.append(Metric(directive["Namespace"], metric["Name"], dimensions, values, metric["Unit"]))
    return found


def named(written: str) -> dict[str, dict[str, str]]:
    """Each metric written, by name: its dimension values (the last one written, when a name repeats)."""
    return {metric.name: metric.dimension_values for metric in metrics(written)}


def log_lines(written: str, message: str) -> list[dict]:
    """Every JSON log line with `message` among the lines written."""
    lines = [json.loads(line) for line in written.splitlines() if line.startswith('{"level"')]
    return [line for line in lines if line["message"] == message]
