"""Compatibility bridge: answer the seed system's `ai_requests` rows through our engine.

Claims pending rows in priority order with FOR UPDATE SKIP LOCKED (several bridges can run), answers
them through the same batched inference and fallback as the `gpu` queue, writes `ai_responses`,
and is woken by LISTEN/NOTIFY. Sweeps: old pending rows time out, a dead bridge's claimed rows
return to pending, finished rows are deleted after a retention period. A bad row (wrong length,
NaN, out of range, unknown archetype) is answered with action 255 (the map server's own AI) and
status 'failed', with the reason in action_params, and is kept as a dead letter for GMs.
"""

from __future__ import annotations

import json
import logging
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import psycopg2.extensions
from psycopg2.extras import execute_values

from aiworld.env import PROJECT_ROOT
from aiworld.mobs.payload import PROTOCOL_VERSION, Batch, RequestError, decode
from aiworld.mobs.state import Action

log = logging.getLogger("aiworld.ipc_bridge")
SCHEMA = PROJECT_ROOT / "sql" / "ml_monster_ai_schema.sql"
CHANNEL = "ai_requests"
_ACTION_NAMES = {int(a): a.name for a in Action}

CLAIM = """
UPDATE ai_requests SET status = 'processing', processing_worker_id = %s, claimed_at = now()
WHERE request_id IN (
    SELECT request_id FROM ai_requests WHERE status = 'pending'
    ORDER BY priority DESC, created_at FOR UPDATE SKIP LOCKED LIMIT %s)
RETURNING request_id, monster_id, mob_id, archetype, state_vector, priority, created_at
"""


@dataclass
class BridgeSettings:
    batch_size: int = 512
    pending_timeout_s: float = 5.0  # the map server has moved on by then
    processing_timeout_s: float = 30.0  # a claimed row this old belongs to a dead bridge
    retention_s: float = 3600.0
    sweep_every_s: float = 2.0
    decide_timeout_s: float = 4.0


def install_schema(conn) -> None:
    with conn.cursor() as cur:
        cur.execute(Path(SCHEMA).read_text())
    conn.commit()


def claim(conn, worker_id: str, limit: int) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(CLAIM, [worker_id, limit])
        rows = cur.fetchall()
    conn.commit()
    rows.sort(key=lambda row: (-(row[5] if row[5] is not None else 5), row[6]))
    return rows


def to_batch(rows: list[tuple]) -> tuple[Batch, dict[int, RequestError]]:
    """The valid rows as a Batch; the invalid ones as errors by request id. The rows go through the
    same validation as a decide message (aiworld.mobs.payload.decode)."""
    monsters = []
    for request_id, monster_id, mob_id, archetype, vector in (row[:5] for row in rows):
        monster = {"rid": request_id, "archetype": archetype,
                   "state": [float("nan") if v is None else v for v in vector] if vector is not None else None}
        if monster_id is not None:
            monster["mob"] = monster_id
        if mob_id is not None:
            monster["class"] = mob_id
        monsters.append(monster)
    batch = decode({"v": PROTOCOL_VERSION, "server": "ipc-bridge", "reply_to": "ai_responses", "monsters": monsters})
    return batch, {error.rid: error for error in batch.errors}


def answer(conn, rows: list[tuple], decide: Callable[[Batch], list[dict]]) -> tuple[int, int]:
    """Answer claimed rows; returns (completed, failed)."""
    if not rows:
        return 0, 0
    monsters = {row[0]: row[1] for row in rows}
    batch, bad = to_batch(rows)
    started = time.perf_counter()
    decisions = decide(batch) if len(batch) else []
    latency_ms = (time.perf_counter() - started) * 1000
    values = [(d["rid"], monsters[d["rid"]], d["action"], d["conf"], _ACTION_NAMES.get(d["action"], "UNKNOWN"),
               json.dumps({}), json.dumps({"model": d["model"]}), None, latency_ms, False, d["level"])
              for d in decisions]
    values += [(rid, monsters[rid], int(Action.TRADITIONAL_AI), None, "TRADITIONAL_AI",
                json.dumps({"error": e.code, "message": e.message}), None, None, 0.0, False, 5)
               for rid, e in bad.items()]
    with conn.cursor() as cur:
        execute_values(cur, """INSERT INTO ai_responses (request_id, monster_id, action_id, confidence, action_type,
            action_params, model_outputs, fusion_weights, inference_latency_ms, cache_used, fallback_level)
            VALUES %s""", values)
        done = [d["rid"] for d in decisions]
        cur.execute("UPDATE ai_requests SET status = 'completed', processed_at = now() WHERE request_id = ANY(%s)",
                    [done])
        cur.execute("UPDATE ai_requests SET status = 'failed', processed_at = now() WHERE request_id = ANY(%s)",
                    [list(bad)])
    conn.commit()
    if bad:
        from aiworld.services.dead_letters import record_dead_letter

        record_dead_letter(task_name="ipc_bridge", error_code=next(iter(bad.values())).code, source="ai_requests",
                           error_message="; ".join(f"{rid}: {e.code}: {e.message}" for rid, e in bad.items())[:5000],
                           payload=[list(map(str, row[:5])) for row in rows if row[0] in bad])
    return len(decisions), len(bad)


def sweep(conn, settings: BridgeSettings) -> tuple[int, int, int]:
    """(timed out, reclaimed from dead bridges, deleted)."""
    with conn.cursor() as cur:
        cur.execute("""UPDATE ai_requests SET status = 'timeout', processed_at = now()
                       WHERE status = 'pending' AND created_at < now() - make_interval(secs => %s)""",
                    [settings.pending_timeout_s])
        timed_out = cur.rowcount
        cur.execute("""UPDATE ai_requests SET status = 'pending', processing_worker_id = NULL, claimed_at = NULL
                       WHERE status = 'processing' AND claimed_at < now() - make_interval(secs => %s)""",
                    [settings.processing_timeout_s])
        reclaimed = cur.rowcount
        cur.execute("""DELETE FROM ai_requests WHERE status IN ('completed', 'failed', 'timeout')
                       AND created_at < now() - make_interval(secs => %s)""", [settings.retention_s])
        deleted = cur.rowcount
    conn.commit()
    if timed_out or reclaimed or deleted:
        log.info("sweep: %s timed out, %s reclaimed, %s deleted", timed_out, reclaimed, deleted)
    return timed_out, reclaimed, deleted


def process_pending(conn, worker_id: str, settings: BridgeSettings, decide) -> tuple[int, int]:
    completed = failed = 0
    while True:
        rows = claim(conn, worker_id, settings.batch_size)
        if not rows:
            return completed, failed
        c, f = answer(conn, rows, decide)
        completed, failed = completed + c, failed + f


def serve(connect: Callable[[], object], worker_id: str, settings: BridgeSettings, decide,
          stop: threading.Event, once: bool = False) -> tuple[int, int]:
    """Answer rows until stopped (or, with once, until nothing is pending)."""
    work = connect()
    install_schema(work)
    listener = connect()
    listener.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
    with listener.cursor() as cur:
        cur.execute(f"LISTEN {CHANNEL}")
    completed = failed = 0
    last_sweep = 0.0
    try:
        while not stop.is_set():
            c, f = process_pending(work, worker_id, settings, decide)
            completed, failed = completed + c, failed + f
            if c or f:
                log.info("answered %s request(s), %s failed", c, f)
            if time.monotonic() - last_sweep >= settings.sweep_every_s:
                sweep(work, settings)
                last_sweep = time.monotonic()
            if once:
                break
            if select.select([listener], [], [], 1.0)[0]:  # woken by NOTIFY; 1 s is only a safety net
                listener.poll()
                listener.notifies.clear()
    finally:
        work.close()
        listener.close()
    return completed, failed
