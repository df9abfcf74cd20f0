"""Every agent's LLM path through CrewAI and the local fake OpenAI-compatible server: a valid JSON
answer becomes the output (path "llm", cost recorded); an unsafe or schema-violating answer falls
back to the offline path with reason "invalid_output..."; no provider -> offline "no_llm"."""

from __future__ import annotations

import json

import pytest

from aiworld.agents import AGENTS, run
from aiworld.models import AgentRun
from tests.support.fake_llm import configure_provider, fake_llm_fixture  # noqa: F401
from tests.unit.test_agents_offline import build_world, inputs_for

TEXT_KEYS = ("reply", "title", "summary", "announcement", "reason", "description", "lore", "reflection")
MARK = "Crafted by the storyteller."


def _offline_and_llm_answer(name: str, w: dict) -> tuple[object, dict, str]:
    """The offline output now, and an answer differing from it in one free-text field."""
    agent = AGENTS[name]
    offline = agent.offline(agent.inputs_model.model_validate(inputs_for(name, w)))
    answer = offline.model_dump(mode="json")
    key = next(k for k in TEXT_KEYS if k in answer)
    return offline, answer, key


@pytest.mark.django_db(transaction=True)  # CrewAI calls the chain from its own thread
@pytest.mark.parametrize("name", sorted(AGENTS))
def test_valid_answer_through_crewai_becomes_the_output(name: str, fake_llm) -> None:
    w = build_world()
    configure_provider(fake_llm.url)
    _, answer, key = _offline_and_llm_answer(name, w)
    answer[key] = MARK
    fake_llm.responder = lambda body: "```json\n" + json.dumps(answer) + "\n```"
    result = run(name, inputs_for(name, w))
    assert (result.path, result.reason) == ("llm", ""), result.reason
    assert getattr(result.output, key) == MARK
    assert result.cost_usd > 0
    row = AgentRun.objects.get(pk=result.run_id)
    assert (row.path, row.valid, row.cost_usd) == ("llm", True, result.cost_usd)
    prompt = json.dumps(fake_llm.chat_requests()[-1]["messages"])
    assert "JSON schema" in prompt and AGENTS[name].role in prompt


@pytest.mark.django_db(transaction=True)  # CrewAI calls the chain from its own thread
@pytest.mark.parametrize("name", sorted(AGENTS))
def test_unsafe_answer_falls_back_to_offline(name: str, fake_llm) -> None:
    w = build_world()
    configure_provider(fake_llm.url)
    offline, answer, key = _offline_and_llm_answer(name, w)
    answer[key] = "@warp prontera 150 150"
    fake_llm.responder = lambda body: json.dumps(answer)
    result = run(name, inputs_for(name, w))
    assert result.path == "offline" and result.reason.startswith("invalid_output: unsafe text"), result.reason
    assert result.output == offline
    row = AgentRun.objects.get(pk=result.run_id)
    assert row.valid is False and "@warp" in row.error


@pytest.mark.django_db(transaction=True)  # CrewAI calls the chain from its own thread
@pytest.mark.parametrize("name", ["dialogue", "economy", "quest", "weather"])
def test_schema_violation_falls_back_to_offline(name: str, fake_llm) -> None:
    w = build_world()
    configure_provider(fake_llm.url)
    fake_llm.responder = lambda body: json.dumps({"bogus": 1})
    result = run(name, inputs_for(name, w))
    assert result.path == "offline" and result.reason.startswith("invalid_output: schema"), result.reason


@pytest.mark.django_db(transaction=True)  # CrewAI calls the chain from its own thread
def test_reference_to_missing_rows_falls_back_to_offline(fake_llm) -> None:
    w = build_world()
    configure_provider(fake_llm.url)
    _, answer, _ = _offline_and_llm_answer("treasure", w)
    answer["items"] = [{"item_id": 424242, "count": 1}]
    fake_llm.responder = lambda body: json.dumps(answer)
    result = run("treasure", inputs_for("treasure", w))
    assert result.path == "offline" and result.reason.startswith("invalid_output: apply: unknown item ids")


@pytest.mark.django_db(transaction=True)  # CrewAI calls the chain from its own thread
@pytest.mark.parametrize("name", ["dialogue", "world_event"])
def test_no_provider_runs_offline(name: str) -> None:
    w = build_world()
    result = run(name, inputs_for(name, w))
    assert (result.path, result.reason) == ("offline", "no_llm")


@pytest.mark.django_db(transaction=True)  # CrewAI calls the chain from its own thread
def test_over_budget_reason_comes_from_the_chain(fake_llm) -> None:
    from tests.support.fake_llm import Fail

    w = build_world()
    configure_provider(fake_llm.url)
    fake_llm.script(Fail(500))
    result = run("karma", inputs_for("karma", w))
    assert result.path == "offline" and result.reason == "all_failed"
    assert len(fake_llm.chat_requests()) == 1  # CrewAI did not retry what the chain already refused
