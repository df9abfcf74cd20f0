"""NPC memory upkeep on the `cpu` queue, scheduled by celery-beat (aiworld.services.schedules)."""

from __future__ import annotations

from celery import shared_task

from aiworld.npc import memory, memory_prewarm
from aiworld.tasks.base import IdempotentTask, PayloadError

PREWARM_STEP_S = 8.0  # a step ends well inside the cpu queue's 12 s soft limit, then re-enqueues


# Safe to run twice: retention deletes by rule, and each reflection is claimed with a conditional UPDATE.
@shared_task(name="aiworld.npc.memory_maintenance", bind=True, base=IdempotentTask)
def memory_maintenance(self) -> dict[str, int]:
    """Apply the retention policy, then reflect for every NPC over the importance threshold."""
    deleted = memory.apply_retention()
    return {**{f"deleted_{reason}": count for reason, count in deleted.items()},
            "reflections": memory.reflect_due()}


# Safe to run twice: it only reads. Each step checkpoints by enqueueing the next one.
@shared_task(name="aiworld.npc.memory_prewarm", bind=True, base=IdempotentTask)
def prewarm(self, phase: str = "keys", position: int = -1, spent_bytes: int = 0) -> dict[str, object]:
    """Read NPC memory into PostgreSQL's cache (aiworld.npc.memory_prewarm), a step at a time."""
    if phase not in memory_prewarm.PHASES:
        raise PayloadError("bad_argument", f"phase must be one of {', '.join(memory_prewarm.PHASES)}, got {phase!r}")
    for name, value, low in (("position", position, -1), ("spent_bytes", spent_bytes, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise PayloadError("bad_argument", f"{name} must be an integer >= {low}, got {value!r}")
    if (phase, position, spent_bytes) == ("keys", -1, 0) and not memory_prewarm.claim_for_this_server_start():
        return {"done": True, "reason": "already warmed since PostgreSQL started"}
    progress = memory_prewarm.warm(phase, position, deadline_s=PREWARM_STEP_S, spent_bytes=spent_bytes)
    if not progress.done:
        prewarm.apply_async(kwargs={"phase": progress.phase, "position": progress.position,
                                    "spent_bytes": spent_bytes + progress.bytes_read})
    return {"phase": progress.phase, "position": progress.position, "npcs": progress.npcs,
            "bytes": progress.bytes_read, "done": progress.done, "reason": progress.reason}
