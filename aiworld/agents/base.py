"""What every agent is made of, and small helpers the agent modules share.

An agent is data plus three functions: `offline` (deterministic rules/templates over the domain
rows), `apply` (persist the output's effects) and `context` (domain facts for the LLM prompt).
The runner (aiworld.agents.runner) decides which path produces the output.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field

TRIGGERS = ("request", "periodic")


class Strict(BaseModel):
    """Base of every agent schema: unknown keys are an error (an LLM inventing fields is invalid output)."""

    model_config = ConfigDict(extra="forbid")


# Text an agent shows in the game: bounded here, checked by aiworld.npc.safety in the runner.
def Text(max_length: int = 300, min_length: int = 1) -> Any:  # noqa: N802 - reads like a type in models
    return Field(min_length=min_length, max_length=max_length)


@dataclass(frozen=True)
class Agent:
    name: str
    trigger: str                                   # "request" or "periodic"
    role: str                                      # CrewAI role/goal/backstory
    goal: str
    backstory: str
    task: str                                      # what the LLM must produce, in words
    inputs_model: type[BaseModel]
    output_model: type[BaseModel]
    offline: Callable[[Any], BaseModel]            # (inputs) -> output, deterministic
    apply: Callable[[Any, Any], dict]              # (output, inputs) -> what was persisted (row ids)
    context: Callable[[Any], dict] = field(default=lambda inputs: {})  # domain facts for the prompt
    summary: str = ""                              # one line for docs/admin


def seeded(*parts: object) -> random.Random:
    """A generator seeded by a hash of `parts`: the same inputs always give the same choices."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return random.Random(int(digest[:16], 16))


def now_or(value: datetime | None) -> datetime:
    return value or timezone.now()


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


# The path that produced the output being applied: agents record it as the rows' `source`.
_source: ContextVar[str] = ContextVar("agent_source", default="template")


def source() -> str:
    return _source.get()


class MapInputs(BaseModel):
    """Inputs of the agents that work on one map."""

    model_config = ConfigDict(extra="forbid")
    map: str = Field(min_length=1, max_length=40)
    server: str = Field("", max_length=64)
    hour: int | None = Field(None, ge=0, le=23, description="hour of day in game; None: now")


def map_state(map_name: str, server: str = "") -> dict:
    """The map's latest reported state (the most recently updated server's, unless one is named)."""
    from aiworld.models import WorldState

    rows = WorldState.objects.filter(map=map_name)
    if server:
        rows = rows.filter(server=server)
    row = rows.order_by("-updated_at").first()
    return dict(row.state) if row else {}


def hour_of(inputs: MapInputs) -> int:
    return inputs.hour if inputs.hour is not None else timezone.localtime().hour
