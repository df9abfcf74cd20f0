"""A player says something to an NPC: the NPC answers in persona, remembers, and its feelings
towards the player change (payload and reply: docs/protocol.md §6).

Order of work, cheapest first: the stored reply of a duplicate request; rate limits; the
injection guard; small talk (greetings, thanks, farewells) from templates; the exact and semantic
caches; an identical request already in flight on another worker; and only then the dialogue
agent, which calls an LLM when one is configured and within budget, or answers from its
templates. The relationship, the memory and the turn are written in one transaction keyed by the
request id, so a redelivered message changes nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest, Least
from django.utils import timezone

from aiworld.agents.dialogue import intent_of
from aiworld.errors import PayloadError
from aiworld.models import NPC, DialogueTurn, PlayerCharacter, Quest, Relationship
from aiworld.npc import characters, limits, memory, metrics, quests, reply_cache, safety
from aiworld.npc.payloads import optional_reply_key, require_int, require_text

log = logging.getLogger("aiworld.npc.dialogue")

MEMORIES_IN_PROMPT = 5
# Small talk that templates answer as well as a model would: never worth an LLM call.
TEMPLATE_INTENTS = frozenset({"greeting", "farewell", "thanks"})
RECENT_TURNS = 4
INFLIGHT_WAIT_S = 12.0  # below the cpu queue's soft limit
CONVERSATION_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class DialogueRequest:
    server: str
    request_id: str
    npc_game_id: int
    char_id: int
    player_name: str
    text: str
    reply_to: str | None
    reply_ttl_s: int


def decode(payload: object) -> DialogueRequest:
    """Validate a dialogue payload; PayloadError names the first problem."""
    if not isinstance(payload, dict):
        raise PayloadError("bad_payload", "the task's argument must be a JSON object")
    reply_to, ttl = optional_reply_key(payload)
    text = require_text(payload, "text", max_length=safety.MAX_PLAYER_TEXT)
    return DialogueRequest(
        server=require_text(payload, "server", max_length=64),
        request_id=require_text(payload, "request_id", max_length=64),
        npc_game_id=require_int(payload, "npc", 0, 2**31 - 1),
        char_id=require_int(payload, "char_id", 0, 2**31 - 1),
        player_name=require_text(payload, "player_name", max_length=100),
        text=text, reply_to=reply_to, reply_ttl_s=ttl,
    )


def cache_stance(affinity: int, interactions: int) -> str:
    """The relationship as far as reusing a reply goes: a first meeting, a known player, an enemy."""
    if interactions == 0:
        return "stranger"
    return "hostile" if affinity <= -10 else "known"


def persona_fingerprint(npc: NPC) -> str:
    """Changes whenever a GM edits what shapes the NPC's voice, so cached replies stop matching."""
    fields = [npc.name, npc.job_class, npc.openness, npc.conscientiousness, npc.extraversion, npc.agreeableness,
              npc.neuroticism, npc.altruism, npc.lawful, npc.honest, npc.quirks, npc.backstory, npc.faction_id]
    return hashlib.sha256(json.dumps(fields, default=str).encode()).hexdigest()[:12]


def persona(npc: NPC) -> dict:
    from aiworld.agents.personality import alignment

    return {
        "name": npc.name, "job_class": npc.job_class, "map": npc.map,
        "personality": {"openness": npc.openness, "conscientiousness": npc.conscientiousness,
                        "extraversion": npc.extraversion, "agreeableness": npc.agreeableness,
                        "neuroticism": npc.neuroticism},
        "alignment": alignment(npc.altruism, npc.lawful, npc.honest), "mood": npc.mood,
        "quirks": list(npc.quirks or []), "backstory": npc.backstory,
        "faction": npc.faction.name if npc.faction_id else "",
    }


def _deflection(npc: NPC, player_name: str) -> dict:
    """In-persona answer to an attempt to steer the NPC out of its role (nothing reaches an LLM)."""
    if npc.agreeableness >= 0.5:
        text = f"I'm afraid I don't follow, {player_name}. I'm just {npc.name}, a {npc.job_class} of {npc.map}."
    else:
        text = f"Strange words, {player_name}. Speak plainly or move along; {npc.name} has work to do."
    return {"text": text, "emotion": "suspicious", "relationship_delta": 0, "offer_quest": False,
            "memory": f"{player_name} spoke in riddles and strange commands.", "importance": 2}


def _rate_limited(npc: NPC, player_name: str, verdict: limits.Verdict) -> dict:
    who = "you" if verdict.scope == "player" else "everyone"
    return {"text": f"One at a time, {player_name}! I can't keep up with {who}. Give me a moment.",
            "emotion": "neutral", "relationship_delta": 0, "offer_quest": False}


def _recall(npc: NPC, player: PlayerCharacter, text: str) -> list:
    """Long-term memories for the prompt. This conversation's own lines are not among them: they are
    in recent_turns already, and quoting them back as memories reads oddly."""
    cutoff = timezone.now() - CONVERSATION_WINDOW
    return [m for m in memory.retrieve(npc, text, player=player, k=MEMORIES_IN_PROMPT) if m.created_at < cutoff]


def _agent_reply(npc: NPC, player: PlayerCharacter, relationship: Relationship, text: str,
                 memories: list, allow_llm: bool) -> tuple[dict, str]:
    from aiworld.agents import run as run_agent

    recent = list(DialogueTurn.objects.filter(npc=npc, player=player).order_by("-created_at")
                  .values_list("player_text", "reply")[:RECENT_TURNS])
    inputs = {
        "npc": persona(npc), "player": {"name": player.name},
        "relationship": {"affinity": relationship.affinity, "trust": relationship.trust,
                         "interactions": relationship.interactions},
        "memories": [m.text for m in memories], "player_text": text,
        "recent_turns": [{"player": p, "npc": r} for p, r in reversed(recent)],
    }
    result = run_agent("dialogue", inputs, allow_llm=allow_llm)
    out = result.output
    reply = {"text": out.reply, "emotion": out.emotion, "relationship_delta": int(out.relationship_delta),
             "offer_quest": bool(out.offer_quest), "memory": out.memory, "importance": int(out.importance)}
    return reply, ("llm" if result.path == "llm" else "template")


def _stored(turn: DialogueTurn, req: DialogueRequest) -> dict:
    relationship = Relationship.objects.filter(npc_id=turn.npc_id, player_id=turn.player_id).first()
    return _reply_document(req, turn.reply, turn.emotion, turn.relationship_delta, relationship, turn.quest_offer,
                           turn.source, bool(turn.flagged), duplicate=True)


def _reply_document(req: DialogueRequest, text: str, emotion: str, delta: int, relationship: Relationship | None,
                    quest: Quest | None, source: str, flagged: bool, **extra) -> dict:
    document = {
        "v": 1, "ok": True, "request_id": req.request_id, "server": req.server, "npc": req.npc_game_id,
        "char_id": req.char_id, "text": text, "emotion": emotion,
        "relationship": {"affinity": relationship.affinity if relationship else 0, "delta": delta,
                         "trust": round(relationship.trust, 3) if relationship else 0.5},
        "quest": None, "source": source, "flagged": flagged,
    }
    if quest is not None:
        document["quest"] = {"id": quest.pk, "title": quest.title, "kind": quest.kind, "difficulty": quest.difficulty,
                             "description": quest.description, "objectives": quest.objectives,
                             "rewards": quest.rewards}
    document.update(extra)
    return document


def respond(req: DialogueRequest, trace: dict | None = None) -> dict:
    """The reply document for one request (also stored, remembered and reflected in the relationship).
    `trace`, when given, receives what a cache hit reused (the replay benchmark judges hits with it;
    it stays out of the reply because the reused line may be another player's)."""
    started = time.perf_counter()
    npc = characters.active_npc(req.npc_game_id)
    duplicate = DialogueTurn.objects.filter(npc=npc, request_id=req.request_id).select_related("quest_offer").first()
    if duplicate is not None:
        return _stored(duplicate, req)

    player = characters.player(req.server, req.char_id, req.player_name)
    relationship, _ = Relationship.objects.get_or_create(npc=npc, player=player)

    verdict = limits.check(req.server, req.char_id, req.npc_game_id)
    if not verdict.allowed:
        reply = _rate_limited(npc, player.name, verdict)
        return _reply_document(req, reply["text"], reply["emotion"], 0, relationship, None, "rate_limited", False,
                               retry_after_s=verdict.retry_after_s, limited=verdict.scope)

    flagged = safety.input_problem(req.text) or ""
    memories: list = []
    hit = None
    if flagged:
        reply, source = _deflection(npc, player.name), "guard"
    elif intent_of(reply_cache.canonical(req.text)) in TEMPLATE_INTENTS:  # "where is the inn, thanks" is no thanks
        memories = _recall(npc, player, req.text)
        reply, source = _agent_reply(npc, player, relationship, req.text, memories, allow_llm=False)
    else:
        memories = _recall(npc, player, req.text)
        # a reply that drew on this player's own past is theirs alone; otherwise any player may reuse it
        player_specific = any(m.player_id == player.pk for m in memories)
        base = f"{npc.pk}:{persona_fingerprint(npc)}:{cache_stance(relationship.affinity, relationship.interactions)}"
        scope = reply_cache.Scope(npc_key=base, player_key=f"{base}:p{player.pk}")
        hit = reply_cache.lookup(scope, req.text, player.name)
        if hit is None and reply_cache.claim(scope, req.text):
            try:
                reply, source = _agent_reply(npc, player, relationship, req.text, memories, allow_llm=True)
                if source == "llm":
                    reply_cache.store(scope, req.text, reply, player.name, player_specific=player_specific)
            finally:
                reply_cache.release(scope, req.text)
        elif hit is None:
            hit = reply_cache.wait_for(scope, req.text, player.name, INFLIGHT_WAIT_S)
            if hit is None:  # the other worker failed or is slow: answer without an LLM
                reply, source = _agent_reply(npc, player, relationship, req.text, memories, allow_llm=False)
        if hit is not None:
            reply, source = hit.reply, hit.kind

    problem = safety.output_problem(reply["text"])
    if problem:  # a cached or generated line that must not reach the game
        log.warning("dialogue reply refused (%s) for NPC %s; using the template path", problem, npc.game_id)
        reply, source = _agent_reply(npc, player, relationship, req.text, memories, allow_llm=False)
        flagged = flagged or f"output: {problem}"

    delta = max(-5, min(5, int(reply.get("relationship_delta", 0))))
    quest = quests.offer(npc, player) if reply.get("offer_quest") and not flagged else None
    try:
        with transaction.atomic():
            DialogueTurn.objects.create(
                npc=npc, player=player, request_id=req.request_id, player_text=req.text, reply=reply["text"],
                emotion=reply["emotion"], relationship_delta=delta, source=source, flagged=flagged[:200],
                quest_offer=quest, latency_ms=(time.perf_counter() - started) * 1000)
            Relationship.objects.filter(pk=relationship.pk).update(
                affinity=Greatest(-100, Least(100, F("affinity") + delta)),
                trust=Greatest(0.0, Least(1.0, F("trust") + delta / 50.0)),
                interactions=F("interactions") + 1, last_interaction=timezone.now())
            # a reused reply's own memory line was written about another player's words
            note = (reply.get("memory") if hit is None else None) or f'{player.name} said "{req.text[:120]}".'
            memory.remember(npc, note, player=player, importance=reply.get("importance"))
    except IntegrityError:  # the same request finished on another worker meanwhile
        turn = DialogueTurn.objects.select_related("quest_offer").get(npc=npc, request_id=req.request_id)
        return _stored(turn, req)
    relationship.refresh_from_db()
    metrics.DIALOGUE.labels(source).inc()
    metrics.DIALOGUE_LATENCY.labels("yes" if source == "llm" else "no").observe(time.perf_counter() - started)
    if trace is not None and hit is not None:
        trace.update(similarity=hit.similarity, cached_from=hit.source_text)
    return _reply_document(req, reply["text"], reply["emotion"], delta, relationship, quest, source, bool(flagged))
