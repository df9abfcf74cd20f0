"""Read NPC memory back into PostgreSQL's cache after a restart.

Retrieval (aiworld.npc.memory) reads an NPC's vectors from the covering index memory_npc_vectors,
looks up its 100 candidates by primary key and reads their rows. Warm, that took 9 ms p95 at
1,000,000 memories; after a restart every page is a disk read, and on a machine that keeps little
OS page cache that was 40-49 ms p95 (docs/benchmarks.md). So after a farm start the three are read
once, in three phases, the way retrieval would have read them, just before anyone waits for them:

1. keys: the primary key index, whole (~22 MB at 1M memories);
2. vectors: memory_npc_vectors, NPC by NPC in npc_id order (index-only range scans; ~1.4 GB);
3. rows: the table, newest rows first, through the primary key (~1.6 GB).

Bounded: at most BUDGET_SHARE of shared_buffers in all, so that the prewarm never pushes out
everything else; work goes in steps that end by a deadline and return where to go on (the task
re-enqueues itself: a checkpoint per step).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction

from aiworld.models.npc import NPC, Memory
from aiworld.services import kv

INDEX = "memory_npc_vectors"
PHASES = ("keys", "vectors", "rows")
BUDGET_SHARE = 0.8  # of shared_buffers, at most
NPCS_PER_SCAN = 20
ROWS_PER_SCAN = 50_000
# With sequential and bitmap scans off, the scans below are index (or index-only) scans; index-only
# scans count as index scans for enable_indexscan, so that one stays on.
SCAN_SETTINGS = ("SET LOCAL enable_seqscan = off", "SET LOCAL enable_bitmapscan = off")


@dataclass(frozen=True)
class Progress:
    phase: str  # the phase the next step starts in
    position: int  # where in it: after this npc_id (vectors), below this id (rows); -1 from the start
    npcs: int  # NPCs whose vectors this step read
    bytes_read: int  # this step's reads, estimated from rows and relation sizes
    done: bool
    reason: str  # why it stopped: "finished", "budget", "deadline", "no index"


@dataclass(frozen=True)
class Sizes:
    keys: int  # primary key index, bytes
    vectors: int  # memory_npc_vectors, bytes
    rows: int  # the table, bytes
    shared_buffers: int
    memories: int  # estimated (pg_class.reltuples)

    @property
    def total(self) -> int:
        return self.keys + self.vectors + self.rows


CLAIM_KEY = "aiworld:memory:prewarm:{started}"
CLAIM_S = 7 * 24 * 3600


def claim_for_this_server_start() -> bool:
    """True for the first caller since PostgreSQL started (its shared_buffers were empty then):
    the workers' automatic prewarm runs once per server start, not once per worker start."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT extract(epoch FROM pg_postmaster_start_time())")
        started = int(cursor.fetchone()[0])
    return bool(kv.client().set(CLAIM_KEY.format(started=started), "1", nx=True, ex=CLAIM_S))


def sizes() -> Sizes | None:
    """Relation sizes as PostgreSQL reports them; None when memory_npc_vectors does not exist."""
    table = Memory._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [INDEX])
        if not cursor.fetchone()[0]:
            return None
        cursor.execute(
            "SELECT (SELECT pg_relation_size(indexrelid) FROM pg_index "
            "        WHERE indrelid = %s::regclass AND indisprimary), "
            "pg_relation_size(%s::regclass), pg_relation_size(%s::regclass), "
            "(SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers'), "
            "(SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = %s::regclass)",
            [table, INDEX, table, table])
        keys, vectors, rows, buffers, memories = cursor.fetchone()
        if not memories:  # never analysed yet (a new table): count, which is cheap while it is small
            cursor.execute(f"SELECT count(*) FROM {table}")
            memories = cursor.fetchone()[0]
    return Sizes(int(keys or 0), int(vectors), int(rows), int(buffers), int(memories))


def range_scan_sql() -> str:
    """Vectors of a range of NPCs. It reads the embedding, which of the indexes only
    memory_npc_vectors holds: with the visibility map set (autovacuum keeps it) that is an index-only
    scan of it; any other index would add a table read per row (tests/integration/test_memory_prewarm.py
    checks the plans)."""
    return f"SELECT count(embedding) FROM {Memory._meta.db_table} WHERE npc_id > %s AND npc_id <= %s"


def primary_key_scan_sql() -> str:
    """The primary key index, whole: an index-only scan of it, the smallest index on id."""
    return f"SELECT count(id) FROM {Memory._meta.db_table} WHERE id >= 0"


def rows_scan_sql() -> str:
    """Rows of an id range, fetched through the primary key (the text column lives only in the table)."""
    return f"SELECT count(text) FROM {Memory._meta.db_table} WHERE id >= %s AND id < %s"


def warm(phase: str = "keys", position: int = -1, *, deadline_s: float = 8.0, budget_bytes: int | None = None,
         spent_bytes: int = 0, npcs_per_scan: int = NPCS_PER_SCAN, rows_per_scan: int = ROWS_PER_SCAN) -> Progress:
    """Read from (phase, position) on, until the end, the deadline or the budget (`spent_bytes` is
    what earlier steps read)."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {', '.join(PHASES)}")
    found = sizes()
    if found is None:
        return Progress(phase, position, 0, 0, True, "no index")
    budget = int(found.shared_buffers * BUDGET_SHARE) if budget_bytes is None else budget_bytes
    started = time.monotonic()
    read = npcs = 0

    def stop() -> str | None:
        if spent_bytes + read >= budget:
            return "budget"
        if time.monotonic() - started >= deadline_s:
            return "deadline"
        return None

    while True:
        reason = stop()
        if reason:
            return Progress(phase, position, npcs, read, reason == "budget", reason)
        if phase == "keys":
            _scan(primary_key_scan_sql(), [])
            read += found.keys
            phase, position = "vectors", -1
        elif phase == "vectors":
            chunk = list(NPC.objects.filter(id__gt=position).order_by("id").values_list("id", flat=True)
                         [:npcs_per_scan])
            if not chunk:
                phase, position = "rows", -1
                continue
            count = _scan(range_scan_sql(), [position, chunk[-1]])
            read += int(count * found.vectors / max(found.memories, 1))
            npcs += len(chunk)
            position = chunk[-1]
        else:
            if position < 0:
                position = (Memory.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
            if position <= 0 or not Memory.objects.filter(id__lt=position).exists():
                return Progress("rows", position, npcs, read, True, "finished")
            low = max(position - rows_per_scan, 0)
            count = _scan(rows_scan_sql(), [low, position])
            read += int(count * found.rows / max(found.memories, 1))
            position = low


@dataclass(frozen=True)
class Outcome:
    npcs: int  # NPCs whose vectors were read
    bytes_read: int
    reason: str  # why the last step stopped: "finished", "budget", "no index"
    phase: str  # where it stopped


def warm_through(*, budget_bytes: int | None = None, step_s: float = 1.0,
                 on_step: Callable[[Progress], None] | None = None) -> Outcome:
    """Every step from the start to the end or the budget, in this process (the command, the benchmark);
    on_step sees each step's Progress. The workers' task runs the same steps one per task instead."""
    phase, position, spent, npcs = "keys", -1, 0, 0
    while True:
        progress = warm(phase, position, deadline_s=step_s, budget_bytes=budget_bytes, spent_bytes=spent)
        phase, position = progress.phase, progress.position
        spent, npcs = spent + progress.bytes_read, npcs + progress.npcs
        if on_step is not None:
            on_step(progress)
        if progress.done:
            return Outcome(npcs, spent, progress.reason, phase)


def _scan(sql: str, params: list[object]) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        for setting in SCAN_SETTINGS:
            cursor.execute(setting)
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])
