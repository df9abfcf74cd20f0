"""The seed's PostgreSQL IPC answered by our engine: rows inserted with plain SQL get ai_responses."""

from __future__ import annotations

import time

import psycopg2
import pytest
from django.db import connection

from aiworld.mobs.state import ARCHETYPES
from aiworld.services import ipc_bridge
from tests.support.models import install_models
from tests.support.processes import Proc, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def connect():
    return psycopg2.connect(**connection.get_connection_params())


@pytest.fixture
def conn():
    conn = connect()
    ipc_bridge.install_schema(conn)
    with conn.cursor() as cur:
        cur.execute("TRUNCATE ai_requests CASCADE")
    conn.commit()
    yield conn
    conn.close()


def insert(conn, archetype="aggressive", state=None, priority=5, age_s=0.0, monster=1) -> int:
    state = state if state is not None else [0.5] * 64
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO ai_requests (monster_id, mob_id, archetype, state_vector, priority, created_at)
                       VALUES (%s, 1002, %s, %s, %s, now() - make_interval(secs => %s)) RETURNING request_id""",
                    [monster, archetype, state, priority, age_s])
        rid = cur.fetchone()[0]
    conn.commit()
    return rid


def rows(conn, sql, args=()):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def test_a_row_inserted_with_sql_is_answered_by_the_bridge_process(conn, worker_env, tmp_path):
    import sys

    install_models(tmp_path / "models", ARCHETYPES)
    bridge = Proc("bridge", [sys.executable, "manage.py", "ipc_bridge"], tmp_path / "bridge.log", worker_env)
    try:
        wait_for(lambda: "listening" in bridge.log_tail(), 30, what="bridge listening")
        started = time.monotonic()
        rid = insert(conn)
        answer = wait_for(lambda: rows(conn, "SELECT action_id, confidence, fallback_level, action_type, model_outputs "
                                             "FROM ai_responses WHERE request_id = %s", [rid]), 10,
                          interval=0.02, what="ai_responses row")
        took = time.monotonic() - started
    finally:
        bridge.stop()
    action, confidence, level, action_type, outputs = answer[0]
    assert level == 3 and 0 <= action <= 9 and 0 < confidence <= 1
    assert action_type and outputs["model"] == "combat_dqn:1/int8"
    assert rows(conn, "SELECT status FROM ai_requests WHERE request_id = %s", [rid]) == [("completed",)]
    assert took < 5, f"answered after {took:.2f} s"  # woken by NOTIFY, not a poll
    print(f"bridge answered a row {took * 1000:.0f} ms after its INSERT")


def test_claims_follow_priority_and_skip_locked_rows(conn):
    low = insert(conn, priority=1)
    high = insert(conn, priority=9)
    mid = insert(conn, priority=5)
    other = connect()
    try:
        first = ipc_bridge.claim(conn, "a", 2)
        second = ipc_bridge.claim(other, "b", 10)
    finally:
        other.close()
    assert [r[0] for r in first] == [high, mid]
    assert [r[0] for r in second] == [low]  # disjoint: claimed rows are never handed out twice


def test_bad_rows_fail_alone_and_the_good_ones_are_answered(conn):
    good = insert(conn)
    short = insert(conn, state=[0.5] * 63)
    nan = insert(conn, state=[float("nan")] + [0.5] * 63)
    unknown = insert(conn, archetype="dragon")
    calls = []

    def decide(batch):
        calls.append(len(batch))
        return [{"rid": int(r), "action": 1, "conf": 0.9, "level": 3, "model": "m"} for r in batch.request_ids]

    completed, failed = ipc_bridge.process_pending(conn, "t", ipc_bridge.BridgeSettings(), decide)
    assert (completed, failed) == (1, 3) and calls == [1]
    status = dict(rows(conn, "SELECT request_id, status FROM ai_requests"))
    assert status == {good: "completed", short: "failed", nan: "failed", unknown: "failed"}
    params = dict(rows(conn, "SELECT request_id, action_params->>'error' FROM ai_responses WHERE fallback_level = 5"))
    assert params == {short: "bad_state_length", nan: "non_finite_state", unknown: "unknown_archetype"}
    from aiworld.models import DeadLetter

    assert DeadLetter.objects.filter(task_name="ipc_bridge").exists()


def test_sweeps_time_out_reclaim_and_clean_up(conn):
    stale_pending = insert(conn, age_s=30)
    fresh = insert(conn)
    claimed = insert(conn, priority=9)
    ipc_bridge.claim(conn, "dead-bridge", 1)
    with conn.cursor() as cur:
        cur.execute("UPDATE ai_requests SET claimed_at = now() - interval '1 minute' WHERE request_id = %s", [claimed])
        old = insert(conn, age_s=7200)
        cur.execute("UPDATE ai_requests SET status = 'completed' WHERE request_id = %s", [old])
    conn.commit()
    timed_out, reclaimed, deleted = ipc_bridge.sweep(conn, ipc_bridge.BridgeSettings())
    assert (timed_out, reclaimed, deleted) == (1, 1, 1)
    status = dict(rows(conn, "SELECT request_id, status FROM ai_requests"))
    assert status == {stale_pending: "timeout", fresh: "pending", claimed: "pending"}
