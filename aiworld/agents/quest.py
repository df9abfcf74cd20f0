"""The quest agent: a quest from an NPC, shaped by the NPC's job and map, persisted as a Quest row."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field

from aiworld.agents import geography
from aiworld.agents.base import Agent, Strict, Text, seeded, source
from aiworld.models import NPC, Item, PlayerCharacter, Quest, Relationship
from aiworld.models.world import QUEST_DIFFICULTIES, QUEST_TYPES


class Objective(Strict):
    kind: Literal["kill", "fetch", "deliver", "talk", "explore"]
    target: int = Field(ge=1, description="mob id (kill), item id (fetch/deliver), NPC game id (talk), 0 for explore")
    count: int = Field(1, ge=1, le=500)


class Rewards(Strict):
    zeny: int = Field(0, ge=0, le=1_000_000)
    exp: int = Field(0, ge=0, le=10_000_000)
    items: list[tuple[int, int]] = Field(default_factory=list, max_length=3)


class QuestDraft(Strict):
    title: str = Text(120)
    description: str = Text(500)
    kind: Literal[QUEST_TYPES]  # type: ignore[valid-type]
    difficulty: Literal[QUEST_DIFFICULTIES]  # type: ignore[valid-type]
    objectives: list[Objective] = Field(min_length=1, max_length=3)
    rewards: Rewards
    expires_in_hours: int = Field(24, ge=1, le=168)


class QuestInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    npc_id: int = Field(ge=1, description="NPC pk of the quest giver")
    player_id: int | None = Field(None, ge=1, description="PlayerCharacter pk; None: an open quest")


JOB_KINDS = {"merchant": "fetch", "blacksmith": "fetch", "alchemist": "fetch", "knight": "kill", "guard": "kill",
             "swordman": "kill", "hunter": "kill", "priest": "delivery", "acolyte": "delivery", "sage": "explore",
             "scholar": "investigate", "wizard": "investigate", "thief": "delivery"}
DIFFICULTY_REWARD = {"trivial": 1, "easy": 2, "normal": 4, "hard": 8, "very_hard": 16, "epic": 32}


def _plural(name: str) -> str:
    return name if name.endswith("s") else f"{name}s"


def draft_quest(kind: str, difficulty: str, map_name: str, giver: str, rng_key: object) -> QuestDraft:
    """A template quest of `kind` on `map_name` (shared with the problem agent)."""
    rng = seeded("quest", rng_key)
    scale = DIFFICULTY_REWARD[difficulty]
    mob_id, mob = rng.choice(geography.info(map_name).mobs)
    items = list(Item.objects.order_by("base_price", "item_id")[:5])
    item = rng.choice(items) if items else None
    if kind in ("fetch", "craft", "delivery") and item is None:
        kind = "kill"  # no item catalogue yet: fall back to what needs none
    if kind == "kill":
        objective, title = Objective(kind="kill", target=mob_id, count=5 * scale), f"Cull the {_plural(mob)}"
        text = f"{giver} asks you to thin out the {mob}s around {map_name}."
    elif kind in ("fetch", "craft"):
        objective = Objective(kind="fetch", target=item.item_id, count=min(500, 3 * scale))
        title = f"Gather {item.name}"
        text = f"{giver} needs {3 * scale} {item.name} and will pay fairly for them."
    elif kind in ("delivery", "escort"):
        objective, title = Objective(kind="deliver", target=item.item_id, count=1), f"A parcel of {item.name}"
        text = f"{giver} needs a parcel of {item.name} delivered safely across {map_name}."
    else:
        objective, title = Objective(kind="explore", target=1, count=1), f"Secrets of {map_name}"
        text = f"{giver} has heard odd tales about {map_name} and wants someone to look into them."
    return QuestDraft(title=title, description=text, kind=kind, difficulty=difficulty, objectives=[objective],
                      rewards=Rewards(zeny=250 * scale, exp=600 * scale), expires_in_hours=24)


def offline(inputs: QuestInputs) -> QuestDraft:
    npc = NPC.objects.get(pk=inputs.npc_id)
    kind = JOB_KINDS.get(npc.job_class.lower(), "fetch")
    difficulty = "normal"
    if inputs.player_id:
        rel = Relationship.objects.filter(npc=npc, player_id=inputs.player_id).first()
        # NPCs trust friends with harder, better-paid work and strangers with errands
        if rel and rel.affinity >= 50:
            difficulty = "hard"
        elif rel is None or rel.affinity < 0:
            difficulty = "easy"
    return draft_quest(kind, difficulty, npc.map, npc.name, (npc.pk, inputs.player_id))


def create_quest(draft: QuestDraft, *, giver: NPC | None, player: PlayerCharacter | None, trigger: str) -> Quest:
    item_ids = {o.target for o in draft.objectives if o.kind in ("fetch", "deliver")}
    item_ids |= {item_id for item_id, _ in draft.rewards.items}
    known = set(Item.objects.filter(item_id__in=item_ids).values_list("item_id", flat=True))
    if missing := item_ids - known:
        raise ValueError(f"unknown item ids {sorted(missing)}")
    return Quest.objects.create(
        giver=giver, player=player, title=draft.title, description=draft.description, kind=draft.kind,
        difficulty=draft.difficulty, trigger=trigger, objectives=[o.model_dump() for o in draft.objectives],
        progress={"counts": [0] * len(draft.objectives), "seen": []}, rewards=draft.rewards.model_dump(),
        source=source(),
        expires_at=timezone.now() + timedelta(hours=draft.expires_in_hours))


def apply(output: QuestDraft, inputs: QuestInputs) -> dict:
    npc = NPC.objects.get(pk=inputs.npc_id)
    player = PlayerCharacter.objects.get(pk=inputs.player_id) if inputs.player_id else None
    return {"quest": create_quest(output, giver=npc, player=player, trigger="npc_specific").pk}


def context(inputs: QuestInputs) -> dict:
    npc = NPC.objects.filter(pk=inputs.npc_id).values("name", "job_class", "map", "backstory").first() or {}
    return {"giver": npc, "monsters": geography.info(npc.get("map", "")).mobs,
            "items": list(Item.objects.order_by("base_price").values("item_id", "name", "base_price")[:20])}


AGENTS_HERE = (Agent(
    "quest", "request", "Quest writer", "Write a quest this NPC would plausibly give",
    "You write short, playable MMORPG quests with objectives the game can track.",
    "Write one quest from this NPC (kill/fetch/deliver/explore objectives with real mob or item ids) and rewards.",
    QuestInputs, QuestDraft, offline, apply, context,
    "a Quest row (objectives, rewards, difficulty from the relationship)"),)
