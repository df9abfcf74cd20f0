"""The NPC-side operations as functions payload -> reply document, shared by the Celery tasks
(aiworld/tasks/npc.py) and the HTTP API (aiworld/api.py), so both validate and answer alike."""

from __future__ import annotations

from collections.abc import Callable

from aiworld.errors import PayloadError
from aiworld.npc import characters, dialogue, quests, reports
from aiworld.npc.payloads import require_int, require_text


def _server(payload: dict) -> str:
    return require_text(payload, "server", max_length=64)


def dialogue_op(p: dict) -> dict:
    return dialogue.respond(dialogue.decode(p))


def quest_request(p: dict) -> dict:
    quest = quests.request_quest(_server(p), require_int(p, "npc", 0, 2**31 - 1),
                                 require_int(p, "char_id", 0, 2**31 - 1),
                                 require_text(p, "player_name", max_length=100))
    return {"v": 1, "ok": True, "request_id": p.get("request_id"), "quest": quests.quest_document(quest)}


def quest_progress(p: dict) -> dict:
    event = p.get("event")
    if not isinstance(event, dict):
        raise PayloadError("bad_event", 'event must be an object {"kind", "target", "count"}')
    quest = quests.record_progress(_server(p), require_int(p, "char_id", 0, 2**31 - 1),
                                   require_int(p, "quest_id", 1, 2**63 - 1),
                                   require_text(p, "request_id", max_length=64), event)
    return {"v": 1, "ok": True, "request_id": p["request_id"], "quest": quests.quest_document(quest)}


def quest_complete(p: dict) -> dict:
    quest, newly = quests.complete(_server(p), require_int(p, "char_id", 0, 2**31 - 1),
                                   require_int(p, "quest_id", 1, 2**63 - 1))
    return {"v": 1, "ok": True, "request_id": p.get("request_id"), "quest": quests.quest_document(quest),
            "rewards": quest.rewards if newly else None, "already_completed": not newly}


def npc_decide(p: dict) -> dict:
    from aiworld.agents import run as run_agent

    game_id = require_int(p, "npc", 0, 2**31 - 1)
    npc = characters.active_npc(game_id)
    inputs = {"npc_id": npc.pk} | {k: p[k] for k in ("hour", "nearby_players", "threat") if k in p}
    result = run_agent("decision", inputs, request_id=str(p.get("request_id") or "")[:64])
    return {"v": 1, "ok": True, "request_id": p.get("request_id"), "npc": game_id,
            "decision": result.output.model_dump(mode="json"), "source": result.path}


def report_economy(p: dict) -> dict:
    return {"v": 1, "ok": True, "request_id": p.get("request_id"),
            "new": reports.record_economy(_server(p), p.get("reports"))}


def report_state(p: dict) -> dict:
    row = reports.record_world_state(_server(p), p.get("map"), p.get("state"))
    return {"v": 1, "ok": True, "request_id": p.get("request_id"), "map": row.map}


OPERATIONS: dict[str, Callable[[dict], dict]] = {
    "dialogue": dialogue_op, "quest_request": quest_request, "quest_progress": quest_progress,
    "quest_complete": quest_complete, "npc_decide": npc_decide, "report_economy": report_economy,
    "report_state": report_state,
}
