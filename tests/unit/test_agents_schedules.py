"""ensure_schedules creates the beat rows once and keeps GM edits; the agent tasks validate payloads
and run the periodic ticks over the live maps."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from aiworld.errors import PayloadError
from aiworld.models import AgentRun, WorldEvent, WorldState
from aiworld.services.schedules import SCHEDULES, ensure_schedules
from aiworld.tasks.agents import run_agent, tick_weather
from tests.unit.test_agents_offline import build_world


@pytest.mark.django_db
def test_ensure_schedules_creates_once_and_keeps_gm_edits() -> None:
    assert ensure_schedules() == [s.name for s in SCHEDULES]
    tasks = set(PeriodicTask.objects.values_list("task", flat=True))
    assert {"aiworld.world.tick_world_events", "aiworld.world.tick_economy", "aiworld.world.tick_weather",
            "aiworld.npc.memory_maintenance"} <= tasks
    weather = PeriodicTask.objects.get(task="aiworld.world.tick_weather")
    weather.interval, _ = IntervalSchedule.objects.get_or_create(every=5, period=IntervalSchedule.MINUTES)
    weather.save()
    PeriodicTask.objects.filter(task="aiworld.world.tick_economy").update(enabled=False)
    PeriodicTask.objects.filter(task="aiworld.npc.memory_maintenance").delete()

    call_command("ensure_schedules", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert PeriodicTask.objects.get(task="aiworld.world.tick_weather").interval.every == 5
    assert PeriodicTask.objects.get(task="aiworld.world.tick_economy").enabled is False
    memory = PeriodicTask.objects.get(task="aiworld.npc.memory_maintenance")   # re-created when missing
    assert (memory.interval.every, memory.interval.period) == (60, IntervalSchedule.MINUTES)
    assert PeriodicTask.objects.filter(name__in=[s.name for s in SCHEDULES]).count() == len(SCHEDULES)


@pytest.mark.django_db
def test_run_agent_validates_its_payload() -> None:
    with pytest.raises(PayloadError, match="unknown_agent"):
        run_agent.apply(args=[{"agent": "nope", "inputs": {}}]).get()
    with pytest.raises(PayloadError, match="invalid_payload"):
        run_agent.apply(args=[{"inputs": {}}]).get()
    with pytest.raises(PayloadError, match="invalid_inputs"):
        run_agent.apply(args=[{"agent": "karma", "inputs": {"player_id": 1, "act": "bad"}}]).get()


@pytest.mark.django_db
def test_periodic_ticks_plan_one_run_per_live_map_and_market_and_the_runs_persist() -> None:
    from aiworld.services import agent_ticks

    build_world()
    WorldEvent.objects.all().delete()  # prontera is free for a new event
    WorldState.objects.create(server="s1", map="morocc", state={"players_online": 2})
    jobs = agent_ticks.plan_world_events()
    assert {job["inputs"]["map"] for job in jobs if job["agent"] == "world_event"} == {"morocc", "prontera"}
    assert jobs == agent_ticks.plan_world_events()  # same window, same request ids: a second tick is a duplicate
    for job in jobs + agent_ticks.plan_economy() + agent_ticks.plan_weather():
        run_agent.apply(args=[job]).get()
    assert set(WorldEvent.objects.filter(agent="world_event").values_list("map", flat=True)) == {"morocc",
                                                                                                 "prontera"}
    assert "weather" in WorldState.objects.get(map="morocc").state
    assert {"economy", "merchant_economy"} <= set(AgentRun.objects.values_list("agent", flat=True))
    runs = AgentRun.objects.count()
    for job in jobs:  # the same tick again: nothing new
        run_agent.apply(args=[job]).get()
    assert AgentRun.objects.count() == runs


@pytest.mark.django_db
def test_a_tick_enqueues_one_batch_task_per_agent(broker) -> None:
    build_world()
    WorldState.objects.create(server="s1", map="morocc", state={})
    broker.delete("cpu")
    result = tick_weather.apply().get()
    assert sorted(result["enqueued"]) == ["weather:morocc", "weather:prontera"] and result["batches"] == 1
    assert broker.llen("cpu") == 1
