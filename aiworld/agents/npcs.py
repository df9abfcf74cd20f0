"""NPC agents: decision (what one NPC does next), dynamic NPC (moods and positions of a map's NPCs
after what happens there) and social interaction (two NPCs talk; both remember it)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aiworld.agents.base import Agent, Strict, Text, clamp, seeded
from aiworld.agents.events import active_events
from aiworld.agents.personality import voice
from aiworld.models import NPC
from aiworld.models.npc import MOODS

Mood = Literal[MOODS]  # type: ignore[valid-type]
FIGHTERS = ("guard", "knight", "swordman", "crusader", "soldier", "hunter")
DANGER = ("invasion", "monster_surge", "boss", "hazard", "eclipse", "problem")
JOY = ("festival", "tournament", "merchant_caravan", "treasure")


def _npc_facts(npc: NPC) -> dict:
    return {"id": npc.pk, "name": npc.name, "job_class": npc.job_class, "map": npc.map, "x": npc.x, "y": npc.y,
            "mood": npc.mood, "personality": {t: getattr(npc, t) for t in ("openness", "conscientiousness",
                                              "extraversion", "agreeableness", "neuroticism")}}


# -- decision ---------------------------------------------------------------------------------------
class DecisionInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    npc_id: int = Field(ge=1)
    hour: int = Field(12, ge=0, le=23)
    nearby_players: int = Field(0, ge=0, le=1000)
    threat: float = Field(0.0, ge=0, le=1, description="danger near the NPC, 0..1")


class DecisionOutput(Strict):
    action: Literal["idle", "patrol", "trade", "talk", "rest", "guard", "flee", "work", "wander"]
    x: int = Field(ge=0, le=1000)
    y: int = Field(ge=0, le=1000)
    mood: Mood
    say: str = Field("", max_length=120)
    reason: str = Text(200)


def decision_offline(inputs: DecisionInputs) -> DecisionOutput:
    npc = NPC.objects.get(pk=inputs.npc_id)
    rng = seeded("decision", inputs.model_dump(), npc.x, npc.y, npc.mood)
    fighter = npc.job_class.lower() in FIGHTERS
    night = inputs.hour < 6 or inputs.hour >= 22
    x, y, mood, say = npc.x, npc.y, npc.mood, ""
    if inputs.threat >= 0.6 and (fighter and npc.neuroticism < 0.7):
        action, mood, say, why = "guard", "angry", "Stand back! I will hold them off.", "danger, and it is a fighter"
    elif inputs.threat >= 0.6:
        action, mood, say, why = "flee", "afraid", "Run! Monsters!", "danger, and it cannot fight"
        x, y = x + rng.choice((-12, 12)), y + rng.choice((-12, 12))
    elif night and not fighter:
        action, mood, why = "rest", "content", "night time"
    elif fighter:
        action, why = "patrol", "on duty"
        x, y = x + rng.randint(-5, 5), y + rng.randint(-5, 5)
    elif npc.job_class.lower() in ("merchant", "blacksmith", "alchemist") and inputs.nearby_players:
        action, say, why = "trade", "Fine wares here! Come and see!", "customers nearby"
    elif npc.extraversion >= 0.6 and inputs.nearby_players:
        action, say, why = "talk", "Hello there, adventurers!", "sociable and people are around"
    elif npc.conscientiousness >= 0.6:
        action, why = "work", "diligent"
    elif npc.openness >= 0.6:
        action, why = "wander", "curious"
        x, y = x + rng.randint(-4, 4), y + rng.randint(-4, 4)
    else:
        action, why = "idle", "nothing pressing"
    return DecisionOutput(action=action, x=int(clamp(x, 0, 1000)), y=int(clamp(y, 0, 1000)), mood=mood, say=say,
                          reason=why)


def decision_apply(output: DecisionOutput, inputs: DecisionInputs) -> dict:
    NPC.objects.filter(pk=inputs.npc_id).update(x=output.x, y=output.y, mood=output.mood)
    return {"npc": inputs.npc_id, "action": output.action}


# -- dynamic NPC ------------------------------------------------------------------------------------
class MapOnly(BaseModel):
    model_config = ConfigDict(extra="forbid")
    map: str = Field(min_length=1, max_length=40)


class NPCChange(Strict):
    npc_id: int = Field(ge=1)
    mood: Mood
    x: int = Field(ge=0, le=1000)
    y: int = Field(ge=0, le=1000)
    active: bool = True


class DynamicNPCOutput(Strict):
    changes: list[NPCChange] = Field(max_length=100)
    summary: str = Text(300)


def dynamic_offline(inputs: MapOnly) -> DynamicNPCOutput:
    kinds = {e.kind for e in active_events(inputs.map)}
    danger, joy = kinds & set(DANGER), kinds & set(JOY)
    changes = []
    for npc in NPC.objects.filter(map=inputs.map, active=True).order_by("pk")[:100]:
        rng = seeded("dynamic_npc", npc.pk, sorted(kinds), npc.x, npc.y)
        if danger:
            # the nervous hide, the gruff get angry, the others stay wary
            mood = "afraid" if npc.neuroticism >= 0.6 else "angry" if npc.agreeableness <= 0.4 else "suspicious"
        elif joy:
            mood = "excited" if npc.extraversion >= 0.6 else "happy"
        else:
            mood = "neutral" if npc.mood in ("afraid", "angry", "suspicious", "excited") else npc.mood
        x, y = npc.x, npc.y
        if npc.openness >= 0.6 and not danger:
            x, y = int(clamp(x + rng.randint(-3, 3), 0, 1000)), int(clamp(y + rng.randint(-3, 3), 0, 1000))
        if (mood, x, y) != (npc.mood, npc.x, npc.y):
            changes.append(NPCChange(npc_id=npc.pk, mood=mood, x=x, y=y))
    cause = ", ".join(sorted(kinds)) or "a quiet hour"
    return DynamicNPCOutput(changes=changes, summary=f"{len(changes)} NPCs of {inputs.map} react to {cause}.")


def dynamic_apply(output: DynamicNPCOutput, inputs: MapOnly) -> dict:
    for change in output.changes:
        updated = NPC.objects.filter(pk=change.npc_id, map=inputs.map).update(
            mood=change.mood, x=change.x, y=change.y, active=change.active)
        if not updated:
            raise ValueError(f"NPC {change.npc_id} is not on {inputs.map}")
    return {"npcs": [c.npc_id for c in output.changes]}


# -- social interaction -----------------------------------------------------------------------------
class SocialInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    npc_a_id: int = Field(ge=1)
    npc_b_id: int = Field(ge=1)


class Line(Strict):
    speaker: Literal["a", "b"]
    text: str = Text(200)


class SocialOutput(Strict):
    topic: str = Text(80)
    lines: list[Line] = Field(min_length=2, max_length=6)
    mood_a: Mood
    mood_b: Mood
    summary: str = Text(200)


OPENING = {"warm": "Good to see you, {o}! Have you heard about {t}?", "plain": "{o}. What do you make of {t}?",
           "curt": "{o}. I suppose you have an opinion on {t} too."}
ANSWER = {"warm": "Oh, {t}! I think it will all turn out well.", "plain": "{t}? Time will tell.",
          "curt": "{t} is none of my concern."}
CLOSING = {"warm": "Let us talk again soon.", "plain": "Well, back to work.", "curt": "Enough chatter."}


def _tone(npc: NPC) -> str:
    v = voice({"agreeableness": npc.agreeableness}, "", npc.mood)
    return "warm" if v.warm else "curt" if v.curt else "plain"


def social_offline(inputs: SocialInputs) -> SocialOutput:
    a, b = NPC.objects.get(pk=inputs.npc_a_id), NPC.objects.get(pk=inputs.npc_b_id)
    events = active_events(a.map)
    if events:
        topic = events[0].title
    elif a.faction_id and a.faction_id == b.faction_id:
        topic = f"the affairs of {a.faction.name}"
    else:
        topic = seeded("social", a.pk, b.pk).choice(("the weather", "business in town", "the monsters lately",
                                                     "old times"))
    ta, tb = _tone(a), _tone(b)
    lines = [Line(speaker="a", text=OPENING[ta].format(o=b.name, t=topic)[:200]),
             Line(speaker="b", text=ANSWER[tb].format(t=topic[0].upper() + topic[1:])[:200]),
             Line(speaker="a", text=CLOSING[ta])]
    # two warm NPCs leave happier; a curt partner sours the other's mood
    mood_a = "happy" if tb == "warm" else "suspicious" if tb == "curt" else a.mood
    mood_b = "happy" if ta == "warm" else "suspicious" if ta == "curt" else b.mood
    return SocialOutput(topic=topic[:80], lines=lines, mood_a=mood_a, mood_b=mood_b,
                        summary=f"{a.name} and {b.name} talked about {topic}."[:200])


def social_apply(output: SocialOutput, inputs: SocialInputs) -> dict:
    from aiworld.npc import memory

    a, b = NPC.objects.get(pk=inputs.npc_a_id), NPC.objects.get(pk=inputs.npc_b_id)
    NPC.objects.filter(pk=a.pk).update(mood=output.mood_a)
    NPC.objects.filter(pk=b.pk).update(mood=output.mood_b)
    ma = memory.remember(a, f"I talked with {b.name} about {output.topic}.")
    mb = memory.remember(b, f"I talked with {a.name} about {output.topic}.")
    return {"memories": [ma.pk, mb.pk]}


def _social_context(inputs: SocialInputs) -> dict:
    npcs = {n.pk: _npc_facts(n) for n in NPC.objects.filter(pk__in=[inputs.npc_a_id, inputs.npc_b_id])}
    return {"a": npcs.get(inputs.npc_a_id), "b": npcs.get(inputs.npc_b_id)}


AGENTS_HERE = (
    Agent("decision", "request", "NPC mind", "Choose what this NPC does next",
          "You decide the everyday actions of townsfolk, guards and merchants.",
          "Choose the NPC's next action, position, mood and an optional short line, from its job, "
          "personality, the hour, players nearby and danger.",
          DecisionInputs, DecisionOutput, decision_offline, decision_apply,
          lambda i: {"npc": _npc_facts(NPC.objects.get(pk=i.npc_id))},
          "an action for one NPC; its mood and position saved on the NPC row"),
    Agent("dynamic_npc", "periodic", "Town life director", "Make a map's NPCs react to what happens there",
          "You keep towns alive: people fear invasions and cheer at festivals.",
          "Update moods/positions of this map's NPCs after its active events.",
          MapOnly, DynamicNPCOutput, dynamic_offline, dynamic_apply,
          lambda i: {"npcs": [_npc_facts(n) for n in NPC.objects.filter(map=i.map, active=True)[:50]],
                     "events": [e.kind for e in active_events(i.map)]},
          "NPC moods, positions and active flags"),
    Agent("social_interaction", "request", "Town gossip", "Write a short talk between two NPCs",
          "You know how each townsperson speaks.", "Write 2-6 lines between NPC a and NPC b about a topic "
          "that matters on their map; give their moods afterwards.",
          SocialInputs, SocialOutput, social_offline, social_apply, _social_context,
          "both NPCs' moods and a Memory of the talk for each"),
)
