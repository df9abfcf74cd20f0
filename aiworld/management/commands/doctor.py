"""Check the farm: database, broker, a live worker on each queue, beat, GPU, models.

Prints one line per check and what to do about a problem; exits 1 when a check fails."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from aiworld.services.doctor import FAIL, run_checks

MARKS = {"ok": "OK  ", "warn": "WARN", "fail": "FAIL", "skip": "SKIP"}


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the queue probes")

    def handle(self, *args, **options):
        from aiworld.celery import app

        checks = run_checks(app, round_trip_timeout=options["timeout"])
        style = {"ok": self.style.SUCCESS, "warn": self.style.WARNING, "fail": self.style.ERROR, "skip": str}
        width = max(len(check.name) for check in checks)
        for check in checks:
            line = f"{MARKS[check.status]} {check.name:<{width}}  {check.detail}"
            if check.advice and check.status != "ok":
                line += f"  -> {check.advice}"
            self.stdout.write(style[check.status](line))
        failed = [check.name for check in checks if check.status == FAIL]
        if failed:
            self.stdout.write(self.style.ERROR(f"doctor: {len(failed)} check(s) failed: {', '.join(failed)}"))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("doctor: all checks passed"))
