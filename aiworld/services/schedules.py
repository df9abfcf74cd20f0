"""The django-celery-beat rows of the periodic agents and the memory maintenance, created once.

GMs edit these rows in the admin (interval, enabled, arguments): ensure_schedules() only creates a
row that is missing, matched by name, and never touches an existing one."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    every_minutes: int


SCHEDULES = (
    Schedule("agents: world events", "aiworld.world.tick_world_events", 30),
    Schedule("agents: economy", "aiworld.world.tick_economy", 15),
    Schedule("agents: weather", "aiworld.world.tick_weather", 60),
    Schedule("agents: NPC life", "aiworld.world.tick_npcs", 20),
    Schedule("agents: factions", "aiworld.world.tick_factions", 360),
    Schedule("npc: memory maintenance", "aiworld.npc.memory_maintenance", 60),
)


def ensure_schedules() -> list[str]:
    """Create the missing periodic tasks; the names of those created (existing rows are left as they are)."""
    created = []
    with transaction.atomic():
        for schedule in SCHEDULES:
            if PeriodicTask.objects.filter(name=schedule.name).exists():
                continue
            interval, _ = IntervalSchedule.objects.get_or_create(every=schedule.every_minutes,
                                                                 period=IntervalSchedule.MINUTES)
            PeriodicTask.objects.create(name=schedule.name, task=schedule.task, interval=interval, enabled=True)
            created.append(schedule.name)
    return created
