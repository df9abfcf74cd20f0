"""The memory agent: rates what an NPC observed (importance 1..10), stores it through the memory
service (aiworld.npc.memory) and, when something weighty happened, adds a reflection."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from aiworld.agents.base import Agent, Strict, Text
from aiworld.models import NPC, PlayerCharacter

REFLECT_AT = 7  # an observation this important, or a batch summing to 3x it, earns a reflection


class Observation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=500)
    player_id: int | None = Field(None, ge=1)


class MemoryInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    npc_id: int = Field(ge=1)
    observations: list[Observation] = Field(min_length=1, max_length=20)


class Rated(Strict):
    text: str = Text(300)
    importance: int = Field(ge=1, le=10)
    player_id: int | None = Field(None, ge=1)


class MemoryOutput(Strict):
    memories: list[Rated] = Field(min_length=1, max_length=20)
    reflection: str | None = Field(None, min_length=1, max_length=300)


def offline(inputs: MemoryInputs) -> MemoryOutput:
    from aiworld.npc.memory import rate_importance

    rated = [Rated(text=o.text[:300], importance=rate_importance(o.text), player_id=o.player_id)
             for o in inputs.observations]
    top = max(rated, key=lambda r: r.importance)
    weighty = top.importance >= REFLECT_AT or sum(r.importance for r in rated) >= 3 * REFLECT_AT
    reflection = f"This stays with me: {top.text.rstrip('.')}."[:300] if weighty else None
    return MemoryOutput(memories=rated, reflection=reflection)


def apply(output: MemoryOutput, inputs: MemoryInputs) -> dict:
    from aiworld.npc import memory

    npc = NPC.objects.get(pk=inputs.npc_id)
    ids = []
    for item in output.memories:
        player = PlayerCharacter.objects.get(pk=item.player_id) if item.player_id else None
        ids.append(memory.remember(npc, item.text, player=player, importance=item.importance).pk)
    applied: dict = {"memories": ids}
    if output.reflection:
        top = max(output.memories, key=lambda m: m.importance)
        applied["reflection"] = memory.remember(npc, output.reflection, kind="reflection",
                                                importance=top.importance).pk
    return applied


AGENTS_HERE = (Agent(
    "memory", "request", "Keeper of memories", "Decide what an NPC remembers and how much it matters",
    "You rate observations the way the Generative Agents paper does (1 mundane .. 10 life-changing).",
    "Rate each observation's importance 1..10 and, if something weighty happened, write a one-line reflection.",
    MemoryInputs, MemoryOutput, offline, apply,
    lambda i: {"npc": NPC.objects.filter(pk=i.npc_id).values("name", "job_class", "backstory").first()},
    "Memory rows via aiworld.npc.memory.remember (+ a reflection memory when weighty)"),)
