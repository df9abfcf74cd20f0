"""Operational services behind the ops tasks."""

from __future__ import annotations

import os
import time


def echo(payload: dict, *, worker: str, queue: str) -> dict:
    return {"echo": payload, "worker": worker, "queue": queue, "pid": os.getpid(), "at": time.time()}
