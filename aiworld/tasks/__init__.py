"""Celery tasks, one module per area. Imported by every worker: keep torch, trainers and CrewAI
imports inside the functions that need them, so gpu/cpu workers and the web never load them."""

from aiworld.tasks import agents, memory, mobs, npc, ops, train  # noqa: F401
