"""The problem agent: detects a problem in the world's data (a shortage, an infestation...) and
turns it into a WorldEvent plus an open Quest that solves it."""

from __future__ import annotations

from typing import Literal

from django.db.models import F, Sum
from pydantic import Field

from aiworld.agents import geography
from aiworld.agents.base import Agent, MapInputs, Strict, Text, hour_of, map_state, seeded
from aiworld.agents.events import _event_context, create_event
from aiworld.agents.quest import QuestDraft, create_quest, draft_quest
from aiworld.models import EconomyReport, Price

ProblemKind = Literal["resource_shortage", "monster_infestation", "bandit_raids", "missing_person", "disease"]


class ProblemOutput(Strict):
    problem: ProblemKind
    title: str = Text(120)
    description: str = Text(400)
    severity: int = Field(ge=1, le=5)
    quest: QuestDraft


def offline(inputs: MapInputs) -> ProblemOutput:
    name = inputs.map
    # 1. a price at 150%+ of its base is a shortage; 2. many drops reported is an infestation
    short = (Price.objects.filter(market__map=name, price__gte=F("item__base_price") * 1.5)
             .select_related("item").order_by("-price", "item_id").first())
    drops = EconomyReport.objects.filter(map=name, kind=EconomyReport.Kind.DROP).aggregate(n=Sum("units"))["n"] or 0
    if short is not None:
        ratio = short.price / max(1, short.item.base_price)
        quest = draft_quest("fetch", "normal", name, f"The {name} market", ("problem", name, short.item_id))
        return ProblemOutput(problem="resource_shortage", title=f"{short.item.name} shortage in {name}",
                             description=f"{short.item.name} sells at {ratio:.1f}x its usual price; "
                                         "traders beg adventurers to bring supplies.",
                             severity=min(5, int(ratio)), quest=quest)
    if drops >= 200:
        quest = draft_quest("kill", "hard", name, f"The {name} guard", ("problem", name, "infestation"))
        return ProblemOutput(problem="monster_infestation", title=f"Infestation around {name}",
                             description=f"Hunters report {drops} drops lately: {geography.info(name).mobs[0][1]}s "
                                         "breed faster than they are culled.", severity=min(5, 2 + drops // 500),
                             quest=quest)
    rng = seeded("problem", name, hour_of(inputs), map_state(name, inputs.server).get("players_online", 0))
    problem = rng.choice(("bandit_raids", "missing_person", "disease"))
    kind = {"bandit_raids": "kill", "missing_person": "explore", "disease": "fetch"}[problem]
    titles = {"bandit_raids": f"Bandits on the roads of {name}", "missing_person": f"Missing in {name}",
              "disease": f"Fever in {name}"}
    texts = {"bandit_raids": "Caravans are robbed on the way in; the town needs escorts and hunters.",
             "missing_person": "A courier never came back from the fields; their family asks for help.",
             "disease": "A fever spreads; the healers need ingredients for a remedy."}
    quest = draft_quest(kind, "normal", name, f"The people of {name}", ("problem", name, problem))
    return ProblemOutput(problem=problem, title=titles[problem], description=texts[problem], severity=2, quest=quest)


def apply(output: ProblemOutput, inputs: MapInputs) -> dict:
    quest = create_quest(output.quest, giver=None, player=None, trigger="world_state")
    event = create_event("problem", "problem", output.title, output.description, inputs.map,
                         {"problem": output.problem, "severity": output.severity, "quest_id": quest.pk},
                         output.quest.expires_in_hours * 60, after_own=True)
    return {"world_event": event.pk, "quest": quest.pk}


def context(inputs: MapInputs) -> dict:
    prices = list(Price.objects.filter(market__map=inputs.map).values("item__name", "item__base_price", "price")[:20])
    return _event_context(inputs) | {"prices": prices}


AGENTS_HERE = (Agent(
    "problem", "periodic", "Problem spotter", "Find what is going wrong on a map and give players a way to fix it",
    "You read the world's economy and monster reports like a town steward.",
    "Identify one problem on this map from the data and write the quest that solves it.",
    MapInputs, ProblemOutput, offline, apply, context,
    "a 'problem' WorldEvent (shortage, infestation, raids...) and an open Quest to solve it"),)
