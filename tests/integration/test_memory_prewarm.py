"""The NPC memory prewarm: the primary key, memory_npc_vectors NPC by NPC and the rows, with the
plans retrieval uses, bounded by a budget and a deadline; a cpu worker enqueues it once at start;
the command runs it by hand."""

from __future__ import annotations

import subprocess
import sys

import pytest

from aiworld.models.npc import NPC, Memory
from aiworld.npc import memory_prewarm

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def npcs() -> list[NPC]:
    """Ten NPCs with 300 memories each, written round-robin: each NPC's rows spread over the whole
    table, as memories written over time are (the shape the planner sees in production)."""
    import numpy as np

    from aiworld.npc.embeddings import EMBEDDING_DIM

    made = [NPC.objects.create(game_id=7000 + i, name=f"Guard {i}") for i in range(10)]
    vectors = np.random.default_rng(0).standard_normal((3000, EMBEDDING_DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    Memory.objects.bulk_create([Memory(npc=made[i % 10], text=f"memory {i}", embedding=vectors[i])
                                for i in range(3000)], batch_size=500)
    with memory_prewarm.connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Memory._meta.db_table}")  # what autovacuum does on a live table
    return made


def test_each_phase_reads_through_the_index_retrieval_uses(npcs):
    def plan(sql: str, params: list[object]) -> str:
        with memory_prewarm.transaction.atomic(), memory_prewarm.connection.cursor() as cursor:
            for setting in memory_prewarm.SCAN_SETTINGS:
                cursor.execute(setting)
            cursor.execute("EXPLAIN " + sql, params)
            return "\n".join(row[0] for row in cursor.fetchall())

    table = Memory._meta.db_table
    vectors = plan(memory_prewarm.range_scan_sql(), [npcs[0].id - 1, npcs[1].id])
    assert f"Index Only Scan using {memory_prewarm.INDEX}" in vectors, vectors
    keys = plan(memory_prewarm.primary_key_scan_sql(), [])
    assert f"Index Only Scan using {table}_pkey" in keys, keys
    rows = plan(memory_prewarm.rows_scan_sql(), [0, 100])
    assert f"Index Scan using {table}_pkey" in rows, rows


def test_warm_goes_through_the_phases_and_stops_at_the_deadline_and_the_budget(npcs):
    assert memory_prewarm.warm(deadline_s=0).reason == "deadline"
    done = memory_prewarm.warm(rows_per_scan=700)
    assert done.done and done.reason == "finished" and done.npcs == 10 and done.phase == "rows"
    found = memory_prewarm.sizes()
    assert 0.9 * found.total < done.bytes_read < 1.1 * found.total
    # the first step reads the primary key, then stops at a one-byte budget before any NPC
    start = memory_prewarm.warm(budget_bytes=1)
    assert start.reason == "budget" and start.done and start.npcs == 0 and start.phase == "vectors"
    one = memory_prewarm.warm("vectors", npcs[0].id - 1, budget_bytes=1, npcs_per_scan=1)
    assert one.npcs == 1 and one.position == npcs[0].id and one.reason == "budget"
    # a step that ends by its deadline says where the next one goes on
    step = memory_prewarm.warm("rows", -1, deadline_s=0.0)
    assert not step.done and step.phase == "rows"
    with pytest.raises(ValueError):
        memory_prewarm.warm("everything")


def test_a_table_never_analysed_is_counted_so_the_estimates_hold():
    import numpy as np

    from aiworld.npc.embeddings import EMBEDDING_DIM

    npc = NPC.objects.create(game_id=7100, name="Fresh")
    with memory_prewarm.connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Memory._meta.db_table}")  # statistics gone: reltuples -1
    Memory.objects.bulk_create([Memory(npc=npc, text=f"m {i}", embedding=np.full(EMBEDDING_DIM, 0.1, np.float32))
                                for i in range(30)])
    assert memory_prewarm.sizes().memories == 30
    done = memory_prewarm.warm()
    assert done.reason == "finished" and done.npcs == 1


def test_the_command_reports_what_it_read(npcs):
    from aiworld.env import PROJECT_ROOT
    from tests.support.processes import database_url_for, subprocess_env

    env = subprocess_env(DATABASE_URL=database_url_for(memory_prewarm.connection.settings_dict["NAME"]))
    result = subprocess.run([sys.executable, "manage.py", "prewarm_memory"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "memory_npc_vectors" in result.stdout and "10 NPCs' vectors" in result.stdout
    assert "(finished)" in result.stdout


def test_cpu_workers_enqueue_the_prewarm_at_start_and_it_runs_once_per_server_start(npcs, worker_env, tmp_path):
    from tests.support.processes import start_worker, wait_for

    env = {**worker_env, "AIWORLD_MEMORY_PREWARM": "1"}
    first = start_worker(tmp_path, "cpu", env)
    second = start_worker(tmp_path, "cpu", env)
    try:
        def results() -> list[str]:
            return [line for proc in (first, second) for line in proc.log_tail(400).splitlines()
                    if "aiworld.npc.memory_prewarm[" in line and "succeeded" in line]

        found = wait_for(lambda: len(results()) == 2 and results(), 30, what="both workers' prewarm tasks")
        assert sum("'reason': 'finished'" in line for line in found) == 1, found  # the one that read
        assert sum("already warmed since PostgreSQL started" in line for line in found) == 1, found
    finally:
        first.stop()
        second.stop()


def test_bad_arguments_are_permanent_errors():
    from aiworld.tasks.base import PayloadError
    from aiworld.tasks.memory import prewarm

    for bad in ({"position": "x"}, {"spent_bytes": -5}, {"phase": "all"}):
        with pytest.raises(PayloadError):
            prewarm.run(**bad)
