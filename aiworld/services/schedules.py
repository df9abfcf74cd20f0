"""The django-celery-beat rows of the periodic agents, the memory maintenance and nightly training, created once.

GMs edit these rows in the admin (interval, enabled, arguments): ensure_schedules() only creates a
row that is missing, matched by name, and never touches an existing one."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    every_minutes: int = 0
    nightly_at_hour: int | None = None  # a crontab at this hour (server time zone) instead of an interval


SCHEDULES = (
    Schedule("agents: world events", "aiworld.world.tick_world_events", 30),
    Schedule("agents: economy", "aiworld.world.tick_economy", 15),
    Schedule("agents: weather", "aiworld.world.tick_weather", 60),
    Schedule("agents: NPC life", "aiworld.world.tick_npcs", 20),
    Schedule("agents: factions", "aiworld.world.tick_factions", 360),
    Schedule("npc: memory maintenance", "aiworld.npc.memory_maintenance", 60),
    Schedule("train: nightly models", "aiworld.train.nightly", nightly_at_hour=3),
)


def ensure_schedules() -> list[str]:
    """Create the missing periodic tasks; the names of those created (existing rows are left as they are)."""
    created = []
    with transaction.atomic():
        for schedule in SCHEDULES:
            if PeriodicTask.objects.filter(name=schedule.name).exists():
                continue
            if schedule.nightly_at_hour is not None:
                cron, _ = CrontabSchedule.objects.get_or_create(minute="0", hour=str(schedule.nightly_at_hour),
                                                                day_of_week="*", day_of_month="*", month_of_year="*")
                PeriodicTask.objects.create(name=schedule.name, task=schedule.task, crontab=cron, enabled=True)
            else:
                interval, _ = IntervalSchedule.objects.get_or_create(every=schedule.every_minutes,
                                                                     period=IntervalSchedule.MINUTES)
                PeriodicTask.objects.create(name=schedule.name, task=schedule.task, interval=interval, enabled=True)
            created.append(schedule.name)
    return created
