"""The base of the gateway's pydantic models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """A model whose validator is built on first use, not at import: a function's cold start pays only for the
    models its own path validates (a module defines several; CDP's onboarding schema alone is dozens)."""

    model_config = ConfigDict(defer_build=True)
