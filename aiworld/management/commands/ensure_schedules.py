"""Create the periodic agent and memory-maintenance schedules that are missing; GM edits are kept."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from aiworld.services.schedules import SCHEDULES, ensure_schedules


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        created = ensure_schedules()
        for name in created:
            self.stdout.write(f"created schedule '{name}'")
        self.stdout.write(f"{len(created)} created, {len(SCHEDULES) - len(created)} already present (left as is).")
