"""The periodic agent ticks: which maps and markets each periodic agent runs for.

A map is "live" when a map server reported its state (WorldState); a market when it has prices or
unapplied reports. A tick only plans: each (agent, map) becomes its own `aiworld.world.run_agent`
task, so one slow LLM call or one failing map never holds up, or times out, the others."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from aiworld.models import EconomyReport, Faction, Market, WorldEvent, WorldState


def live_maps() -> list[str]:
    return sorted(set(WorldState.objects.values_list("map", flat=True)))


def markets() -> list[str]:
    maps = set(Market.objects.values_list("map", flat=True))
    maps |= set(EconomyReport.objects.filter(applied=False).values_list("map", flat=True))
    return sorted(maps)


def _jobs(agent: str, inputs: Iterable[dict], window: str) -> list[dict]:
    """One run_agent payload per item. The request id names the tick window, so a tick that runs
    twice (a redelivery, two beat processes by mistake) does not run an agent twice for one map."""
    jobs = []
    for item in inputs:
        key = str(item.get("map") or item.get("market") or item.get("event_id") or "all")
        jobs.append({"agent": agent, "inputs": item, "request_id": f"tick:{agent}:{key}:{window}"[:64]})
    return jobs


def _window(minutes: int) -> str:
    return str(int(timezone.now().timestamp()) // (60 * minutes))


def plan_world_events(minutes: int = 30) -> list[dict]:
    """World events for maps without a planned/active one, then the next link of ended events' chains."""
    now, window = timezone.now(), _window(minutes)
    busy = set(WorldEvent.objects.filter(status__in=("planned", "active"), ends_at__gt=now)
               .values_list("map", flat=True))
    ended = (WorldEvent.objects.filter(ends_at__lte=now, next_events__isnull=True)
             .exclude(status=WorldEvent.Status.CANCELLED).exclude(agent="event_chain").order_by("ends_at")[:20])
    return (_jobs("world_event", ({"map": m} for m in live_maps() if m not in busy), window)
            + _jobs("event_chain", ({"event_id": e.pk} for e in ended), window))


def plan_economy(minutes: int = 15) -> list[dict]:
    window = _window(minutes)
    return (_jobs("economy", ({"market": m} for m in markets()), window)
            + _jobs("merchant_economy", ({"market": m} for m in markets()), window))


def plan_weather(minutes: int = 60) -> list[dict]:
    return _jobs("weather", ({"map": m} for m in live_maps()), _window(minutes))


def plan_npcs(minutes: int = 20) -> list[dict]:
    window = _window(minutes)
    return (_jobs("dynamic_npc", ({"map": m} for m in live_maps()), window)
            + _jobs("world", ({"map": m} for m in live_maps()), window))


def plan_factions(minutes: int = 360) -> list[dict]:
    return _jobs("faction", [{}] if Faction.objects.exists() else [], _window(minutes))
