"""The world agent: assesses one map (tension, prosperity) from its reported state, events and
prices, stores the assessment in its WorldState, and says which agents the map needs next."""

from __future__ import annotations

from typing import Literal

from django.db.models import Avg, F, FloatField, Sum
from django.db.models.functions import Cast
from django.utils import timezone
from pydantic import Field

from aiworld.agents.base import Agent, MapInputs, Strict, Text, clamp, map_state
from aiworld.agents.events import active_events
from aiworld.models import EconomyReport, Price, WorldState

Followup = Literal["world_event", "economy", "weather", "map_hazard", "treasure", "problem", "dynamic_npc"]
HOSTILE = ("invasion", "monster_surge", "boss", "hazard", "problem", "eclipse")


class WorldOutput(Strict):
    summary: str = Text(300)
    tension: int = Field(ge=0, le=10)
    prosperity: int = Field(ge=0, le=10)
    recommend: list[Followup] = Field(max_length=3)


def _facts(inputs: MapInputs) -> dict:
    state = map_state(inputs.map, inputs.server)
    events = active_events(inputs.map)
    index = Price.objects.filter(market__map=inputs.map).aggregate(
        i=Avg(Cast(F("price"), FloatField()) / Cast(F("item__base_price"), FloatField())))["i"]
    pending = EconomyReport.objects.filter(map=inputs.map, applied=False).aggregate(n=Sum("units"))["n"] or 0
    return {"players": int(state.get("players_online", 0)), "weather": state.get("weather", "unknown"),
            "hostile": sum(e.kind in HOSTILE for e in events), "events": len(events),
            "price_index": round(index, 3) if index is not None else None, "pending_units": pending}


def offline(inputs: MapInputs) -> WorldOutput:
    f = _facts(inputs)
    tension = int(clamp(3 * f["hostile"] + (2 if f["weather"] in ("storm", "sandstorm", "snow") else 0), 0, 10))
    # prices above base mean scarcity (less prosperous); players mean trade and life
    index = f["price_index"] or 1.0
    prosperity = int(clamp(5 + min(3, f["players"] // 10) - round((index - 1.0) * 5), 0, 10))
    recommend: list[str] = []
    if f["pending_units"]:
        recommend.append("economy")
    if f["events"] == 0:
        recommend.append("world_event" if f["players"] >= 5 else "treasure")
    if index >= 1.4:
        recommend.append("problem")
    if not recommend:
        recommend.append("dynamic_npc")
    summary = (f"{inputs.map}: {f['players']} players, {f['events']} active events ({f['hostile']} hostile), "
               f"weather {f['weather']}, prices at {index:.0%} of base.")
    return WorldOutput(summary=summary, tension=tension, prosperity=prosperity, recommend=recommend[:3])


def apply(output: WorldOutput, inputs: MapInputs) -> dict:
    rows = list(WorldState.objects.filter(map=inputs.map, **({"server": inputs.server} if inputs.server else {})))
    rows = rows or [WorldState(server=inputs.server, map=inputs.map, state={})]
    assessment = output.model_dump() | {"at": timezone.now().isoformat()}
    for row in rows:
        row.state = {**row.state, "assessment": assessment}
        row.save()
    return {"world_states": [r.pk for r in rows]}


AGENTS_HERE = (Agent(
    "world", "periodic", "World steward", "Assess the state of a map and what it needs next",
    "You watch over every map: its people, dangers, weather and markets.",
    "Summarise the map's state, rate tension and prosperity 0..10, and recommend up to 3 agents to run next.",
    MapInputs, WorldOutput, offline, apply, _facts,
    "an assessment (tension, prosperity, summary, recommendations) in the map's WorldState"),)
