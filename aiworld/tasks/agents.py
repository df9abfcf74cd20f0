"""Agent tasks on the `cpu` queue: one agent run on request (GMs, ops, other services) and the
periodic ticks django-celery-beat starts (aiworld.services.schedules creates their rows)."""

from __future__ import annotations

from celery import shared_task

from aiworld.services import agent_ticks
from aiworld.tasks.base import IdempotentTask, PayloadError


def _payload(payload: object) -> tuple[str, dict, str]:
    if not isinstance(payload, dict):
        raise PayloadError("invalid_payload", "payload must be an object with agent, inputs and request_id")
    agent, inputs, request_id = payload.get("agent"), payload.get("inputs", {}), payload.get("request_id", "")
    if not isinstance(agent, str) or not agent:
        raise PayloadError("invalid_payload", "payload.agent must be an agent name")
    if not isinstance(inputs, dict):
        raise PayloadError("invalid_payload", "payload.inputs must be an object")
    if not isinstance(request_id, str) or len(request_id) > 64:
        raise PayloadError("invalid_payload", "payload.request_id must be a string of at most 64 characters")
    return agent, inputs, request_id


@shared_task(name="aiworld.world.run_agent", bind=True, base=IdempotentTask)
def run_agent(self, payload: dict) -> dict:
    """{"agent": name, "inputs": {...}, "request_id": str} -> {"run_id", "path", "reason", "output"}."""
    from aiworld.agents import run

    agent, inputs, request_id = _payload(payload)
    result = run(agent, inputs, request_id=request_id or (self.request.id or ""))
    return {"run_id": result.run_id, "path": result.path, "reason": result.reason,
            "output": result.output.model_dump(mode="json"), "applied": result.applied}


@shared_task(name="aiworld.world.run_agent_batch", base=IdempotentTask)
def run_agent_batch(payload: dict) -> dict:
    """{"agent": name, "items": [{"inputs": {...}, "request_id": str}, ...]}: one LLM call for all items."""
    from aiworld.agents.runner import BATCH_MAX, run_batch

    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        raise PayloadError("invalid_payload", "payload must be an object with agent and items")
    items = payload["items"]
    if not 1 <= len(items) <= BATCH_MAX:
        raise PayloadError("invalid_batch", f"a batch holds 1..{BATCH_MAX} items")
    if not all(isinstance(item, dict) for item in items):
        raise PayloadError("invalid_payload", "each item must be an object with inputs and request_id")
    checked = [_payload({"agent": payload.get("agent"), "inputs": item.get("inputs", {}),
                         "request_id": item.get("request_id", "")}) for item in items]
    results = run_batch(checked[0][0], [(inputs, request_id) for _, inputs, request_id in checked])
    return {"runs": [{"run_id": r.run_id, "path": r.path, "reason": r.reason} for r in results]}


def _fan_out(jobs: list[dict]) -> dict:
    """Each agent's jobs of one tick go out in batches: one task, and at most one LLM call, per batch."""
    from aiworld.agents.runner import BATCH_MAX

    by_agent: dict[str, list[dict]] = {}
    for job in jobs:
        by_agent.setdefault(job["agent"], []).append(job)
    batches = 0
    for agent, agent_jobs in by_agent.items():
        for start in range(0, len(agent_jobs), BATCH_MAX):
            chunk = agent_jobs[start:start + BATCH_MAX]
            run_agent_batch.apply_async(args=[{"agent": agent, "items": [
                {"inputs": job["inputs"], "request_id": job["request_id"]} for job in chunk]}])
            batches += 1
    return {"enqueued": [f"{job['agent']}:{job['request_id'].split(':')[2]}" for job in jobs], "batches": batches}


@shared_task(name="aiworld.world.tick_world_events", base=IdempotentTask)
def tick_world_events() -> dict:
    return _fan_out(agent_ticks.plan_world_events())


@shared_task(name="aiworld.world.tick_economy", base=IdempotentTask)
def tick_economy() -> dict:
    return _fan_out(agent_ticks.plan_economy())


@shared_task(name="aiworld.world.tick_weather", base=IdempotentTask)
def tick_weather() -> dict:
    return _fan_out(agent_ticks.plan_weather())


@shared_task(name="aiworld.world.tick_npcs", base=IdempotentTask)
def tick_npcs() -> dict:
    return _fan_out(agent_ticks.plan_npcs())


@shared_task(name="aiworld.world.tick_factions", base=IdempotentTask)
def tick_factions() -> dict:
    return _fan_out(agent_ticks.plan_factions())
