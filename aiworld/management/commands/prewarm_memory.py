"""Read the NPC memory vectors into PostgreSQL's cache now (what a cpu worker enqueues at start).

    python manage.py prewarm_memory [--budget-mb N]

Useful after restarting PostgreSQL alone: the workers' automatic prewarm runs once per farm start.
Prints what it read and how long it took."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from aiworld.npc import memory_prewarm


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--budget-mb", type=int, default=None,
                            help="read at most this much (default: 80 %% of shared_buffers)")

    def handle(self, *args, **options):
        budget = options["budget_mb"]
        if budget is not None and budget < 1:
            raise CommandError("--budget-mb must be at least 1")
        found = memory_prewarm.sizes()
        if found is None:
            raise CommandError(f"index {memory_prewarm.INDEX} not found: run `python manage.py migrate`")
        budget_bytes = budget * 2**20 if budget is not None else int(found.shared_buffers * memory_prewarm.BUDGET_SHARE)
        goal = min(budget_bytes, found.total)
        mb = {name: f"{getattr(found, name) / 2**20:,.0f} MB" for name in ("keys", "vectors", "rows", "shared_buffers")}
        self.stdout.write(f"primary key {mb['keys']}, {memory_prewarm.INDEX} {mb['vectors']}, rows {mb['rows']}; "
                          f"shared_buffers {mb['shared_buffers']}; reading up to {goal / 2**20:,.0f} MB")
        started = time.monotonic()
        with tqdm(total=goal, unit="B", unit_scale=True, desc="prewarm") as bar:
            outcome = memory_prewarm.warm_through(
                budget_bytes=budget_bytes, on_step=lambda step: bar.update(min(step.bytes_read, max(goal - bar.n, 0))))
        read_mb = outcome.bytes_read / 2**20
        self.stdout.write(self.style.SUCCESS(f"{outcome.npcs:,} NPCs' vectors, about {read_mb:,.0f} MB read in "
                                             f"{time.monotonic() - started:.1f} s ({outcome.reason})"))
