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


def _fan_out(jobs: list[dict]) -> dict:
    for job in jobs:
        run_agent.apply_async(args=[job])
    return {"enqueued": [f"{job['agent']}:{job['request_id'].split(':')[2]}" for job in jobs]}


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
