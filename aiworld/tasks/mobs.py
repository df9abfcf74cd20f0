"""Monster decisions on the `gpu` queue (payload and reply: docs/protocol.md §5)."""

from __future__ import annotations

import json

from celery import shared_task
from celery.worker.request import Request

from aiworld.mobs.payload import decode
from aiworld.services import mobs
from aiworld.services.dead_letters import record_dead_letter
from aiworld.tasks.base import IdempotentTask


class DecideRequest(Request):
    """A decide message never stores a success result, whatever its `ignore_result` header says
    (Celery lets the header override the task; a map server copying an echo example sends false).
    Storing one is a GET, a SET and a PUBLISH per tick that nobody reads: measured at about a fifth
    of the pool threads' samples at 10,000 decisions/s (docs/benchmarks.md)."""

    def __init__(self, message, **kwargs):
        super().__init__(message, **kwargs)
        self._ignore_result = True
        self._request_dict["ignore_result"] = True


# Results are not stored (the reply goes to the batch's reply key), but an error that leaves no reply
# key to answer on is: the map server can read it under celery-task-meta-<id>.
@shared_task(name="aiworld.mobs.decide", bind=True, base=IdempotentTask, ignore_result=True,
             store_errors_even_if_ignored=True, Request=DecideRequest)
def decide(self, payload: dict) -> int:
    """Answer one tick of one map: every valid request gets a decision, every invalid one an error
    entry on the reply key; a message with errors is kept as a dead letter."""
    batch = decode(payload)  # PayloadError (no reply key at all) -> dead letter, not retried
    sent = mobs.answer(batch, task_id=self.request.id or "", worker=self.request.hostname or "",
                       timeout=self.soft_time_limit or 4)
    if batch.errors:
        codes = sorted({error.code for error in batch.errors})
        record_dead_letter(task_name=self.name, task_id=self.request.id or "", queue="gpu", source=batch.server,
                           error_code=codes[0] if len(codes) == 1 else "several",
                           error_message=f"{len(batch.errors)} request(s) rejected: "
                                         + "; ".join(f"{e.rid}: {e.code}: {e.message}" for e in batch.errors[:20]),
                           payload=json.dumps(payload, default=repr))
    return sent
