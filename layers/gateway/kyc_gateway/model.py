"""The base of the gateway's pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Model(BaseModel):
    """A model whose validator is built on first use, not at import: a function's cold start pays only for the
    models its own path validates (a module defines several)."""

    model_config = ConfigDict(defer_build=True)


def absent_or_set() -> Any:
    """The default of a field that may be absent but not null: absent, it stays None (not validated, not sent);
    sent as null, its type refuses it. The schema shows no `null` default for it."""
    return Field(default=None, json_schema_extra=_without_default)


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def validation_details(error: ValidationError) -> list[dict[str, str]]:
    """Each failing field and why; never the submitted value, which may be personal data."""
    return [
        {"field": _field_path(issue["loc"]), "issue": issue["msg"], "type": issue["type"]}
        for issue in error.errors(include_url=False, include_input=False, include_context=False)  # less to build
    ]


def _field_path(location: tuple[str | int, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def ascii_upper(value: str) -> str:
    """`value` with a-z upper-cased and nothing else: Unicode's upper case turns the dotless i (U+0131) into "I" and
    the long s (U+017F) into "S", which would make an identifier sent with them another one than the caller's."""
    return value.upper() if value.isascii() else value.translate(_ASCII_UPPER)  # the same; the first is quicker
