"""NPC memory upkeep on the `cpu` queue, scheduled by celery-beat (aiworld.services.schedules)."""

from __future__ import annotations

from celery import shared_task

from aiworld.npc import memory
from aiworld.tasks.base import IdempotentTask


# Safe to run twice: retention deletes by rule, and each reflection is claimed with a conditional UPDATE.
@shared_task(name="aiworld.npc.memory_maintenance", bind=True, base=IdempotentTask)
def memory_maintenance(self) -> dict[str, int]:
    """Apply the retention policy, then reflect for every NPC over the importance threshold."""
    deleted = memory.apply_retention()
    return {**{f"deleted_{reason}": count for reason, count in deleted.items()},
            "reflections": memory.reflect_due()}
