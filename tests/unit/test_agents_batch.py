"""Batching of non-interactive work: several runs of one periodic agent share one LLM call."""

from __future__ import annotations

import json

import pytest

from aiworld.agents.runner import BATCH_MAX, run_batch
from aiworld.errors import PayloadError
from aiworld.models import AgentRun, WorldState
from tests.support.fake_llm import Reply, configure_provider, fake_llm_fixture  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)  # CrewAI calls the LLM from its own thread

MAPS = ("prontera", "morocc", "payon")


def weather(kind: str) -> dict:
    return {"weather": kind, "time_of_day": "day", "temperature_c": 21, "description": f"A {kind} day.",
            "effects": {}}


@pytest.fixture
def live_maps():
    for name in MAPS:
        WorldState.objects.create(server="s1", map=name, state={})


def test_offline_batch_runs_each_item(live_maps):
    results = run_batch("weather", [({"map": m}, f"b:{m}") for m in MAPS])
    assert [r.path for r in results] == ["offline"] * 3 and {r.reason for r in results} == {"no_llm"}
    assert all("weather" in WorldState.objects.get(map=m).state for m in MAPS)
    again = run_batch("weather", [({"map": m}, f"b:{m}") for m in MAPS])
    assert [r.run_id for r in again] == [r.run_id for r in results]  # duplicates return the first runs
    with pytest.raises(PayloadError):
        run_batch("weather", [({"map": "x"}, f"{i}") for i in range(BATCH_MAX + 1)])


def test_one_llm_call_answers_the_whole_batch_and_items_fall_back_alone(live_maps, fake_llm):
    configure_provider(fake_llm.url, budget_usd="1", max_output_tokens=2000)
    answer = [weather("rain"), {"weather": "acid", "time_of_day": "day"}, weather("snow")]
    fake_llm.script(Reply(json.dumps(answer)))
    results = run_batch("weather", [({"map": m}, f"llm:{m}") for m in MAPS])
    assert len(fake_llm.chat_requests()) == 1
    assert [r.path for r in results] == ["llm", "offline", "llm"]
    assert results[1].reason.startswith("invalid_output: schema")
    assert WorldState.objects.get(map="prontera").state["weather"] == "rain"
    costs = [run.cost_usd for run in AgentRun.objects.order_by("pk")]
    assert len(costs) == 3 and costs[0] == costs[1] == costs[2] > 0  # the call's cost split over its items
