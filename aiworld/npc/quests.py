"""Quests a map server asks for, advances and completes (payloads: docs/protocol.md §7).

Progress events carry the caller's request id; the ids already applied are kept on the quest row
(in the same transaction as the counts), so a redelivered event never counts twice.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from aiworld.errors import PayloadError
from aiworld.models import NPC, PlayerCharacter, Quest, Reputation
from aiworld.npc import characters

SEEN_KEPT = 200  # progress request ids remembered per quest
REPUTATION_PER_DIFFICULTY = {"trivial": 5, "easy": 10, "normal": 25, "hard": 50, "very_hard": 100, "epic": 200}


def quest_document(quest: Quest) -> dict:
    counts = (quest.progress or {}).get("counts") or [0] * len(quest.objectives)
    return {"id": quest.pk, "title": quest.title, "description": quest.description, "kind": quest.kind,
            "difficulty": quest.difficulty, "trigger": quest.trigger, "objectives": quest.objectives,
            "progress": counts, "rewards": quest.rewards, "status": quest.status,
            "giver": quest.giver.game_id if quest.giver_id else None}


def offer(npc: NPC, player: PlayerCharacter) -> Quest:
    """The NPC's open quest for this player (offered or accepted), or a new one from the quest agent."""
    from aiworld.agents import run as run_agent

    open_quest = (Quest.objects.filter(giver=npc, player=player, status__in=[Quest.Status.OFFERED,
                                                                             Quest.Status.ACCEPTED])
                  .select_related("giver").first())
    if open_quest is not None:
        return open_quest
    result = run_agent("quest", {"npc_id": npc.pk, "player_id": player.pk})
    quest = Quest.objects.filter(pk=result.applied.get("quest")).select_related("giver").first()
    if quest is None:
        raise RuntimeError("the quest agent created no quest")  # a bug, not bad input: let it fail loudly
    return quest


def request_quest(server: str, npc_game_id: int, char_id: int, player_name: str) -> Quest:
    """The quest a player asks an NPC for (aiworld.npc.quest_request)."""
    return offer(characters.active_npc(npc_game_id), characters.player(server, char_id, player_name))


def _owned(quest_id: int, server: str, char_id: int) -> Quest:
    quest = (Quest.objects.select_for_update(of=("self",)).select_related("giver", "player")
             .filter(pk=quest_id, player__server=server, player__char_id=char_id).first())
    if quest is None:
        raise PayloadError("unknown_quest", f"quest {quest_id} does not belong to character {char_id} on {server}")
    return quest


def _matches(objective: dict, event: dict) -> bool:
    """An event counts for an objective of its kind whose every other field (target, map, x, y...)
    it repeats: {"kind": "kill", "target": 1002} or {"kind": "explore", "map": "moc_fild16", "x": 80, "y": 120}."""
    return all(event.get(key) == value for key, value in objective.items() if key != "count")


def record_progress(server: str, char_id: int, quest_id: int, request_id: str, event: dict) -> Quest:
    """Apply one event {"kind", ..., "count"} to the objectives it matches; accepts an offer."""
    kind, count = event.get("kind"), event.get("count", 1)
    if not isinstance(kind, str) or isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10_000:
        raise PayloadError("bad_event", 'event must be {"kind": str, "target": id or name, "count": 1..10000}')
    with transaction.atomic():
        quest = _owned(quest_id, server, char_id)
        if quest.status not in (Quest.Status.OFFERED, Quest.Status.ACCEPTED):
            raise PayloadError("quest_closed", f"quest {quest_id} is {quest.status}")
        progress = dict(quest.progress or {})
        counts = list(progress.get("counts") or [0] * len(quest.objectives))
        seen = list(progress.get("seen") or [])
        if request_id not in seen:
            for i, objective in enumerate(quest.objectives):
                if _matches(objective, event):
                    counts[i] = min(int(objective.get("count", 1)), counts[i] + count)
            seen = (seen + [request_id])[-SEEN_KEPT:]
            quest.progress = {"counts": counts, "seen": seen}
            quest.status = Quest.Status.ACCEPTED
            quest.save(update_fields=["progress", "status", "updated_at"])
    return quest


def complete(server: str, char_id: int, quest_id: int) -> tuple[Quest, bool]:
    """(quest, newly_completed). Completing twice returns the same quest and False."""
    with transaction.atomic():
        quest = _owned(quest_id, server, char_id)
        if quest.status == Quest.Status.COMPLETED:
            return quest, False
        if quest.status not in (Quest.Status.OFFERED, Quest.Status.ACCEPTED):
            raise PayloadError("quest_closed", f"quest {quest_id} is {quest.status}")
        counts = (quest.progress or {}).get("counts") or [0] * len(quest.objectives)
        missing = [o for o, c in zip(quest.objectives, counts, strict=False) if c < int(o.get("count", 1))]
        if missing:
            raise PayloadError("objectives_incomplete", f"{len(missing)} objective(s) not done: {missing[:3]}")
        quest.status = Quest.Status.COMPLETED
        quest.save(update_fields=["status", "updated_at"])
        if quest.giver_id and quest.giver.faction_id:
            standing, _ = Reputation.objects.select_for_update().get_or_create(player=quest.player,
                                                                               faction_id=quest.giver.faction_id)
            standing.points += REPUTATION_PER_DIFFICULTY.get(quest.difficulty, 10)
            standing.save(update_fields=["points", "updated_at"])
        quest.player.last_seen = timezone.now()
        quest.player.save(update_fields=["last_seen"])
    return quest, True
