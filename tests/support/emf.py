"""Reading what the functions wrote to stdout as CloudWatch reads it: EMF documents and their metrics, log lines."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]  # (name, value) in the document's dimension order
    values: tuple[float, ...]  # the datapoints the document carries for it

    @property
    def dimension_values(self) -> dict[str, str]:
        return dict(self.dimensions)


def documents(written: str) -> list[dict]:
    """Every EMF document among the lines written."""
    return [json.loads(line) for line in written.splitlines() if line.startswith('{"_aws"')]


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
                found.append(Metric(directive["Namespace"], metric["Name"], dimensions, values))
    return found


def named(written: str) -> dict[str, dict[str, str]]:
    """Each metric written, by name: its dimension values (the last one written, when a name repeats)."""
    return {metric.name: metric.dimension_values for metric in metrics(written)}


def log_lines(written: str, message: str) -> list[dict]:
    """Every JSON log line with `message` among the lines written."""
    lines = [json.loads(line) for line in written.splitlines() if line.startswith('{"level"')]
    return [line for line in lines if line["message"] == message]
