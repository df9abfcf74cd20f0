"""Simulated map servers driving the farm through raw Redis commands, with live statistics.

    python manage.py mapserver --servers 2 --monsters 200 --tick-ms 100 --duration 30
"""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from aiworld.services import mapserver


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--servers", type=int, default=1, help="map servers (one thread and reply key each)")
        parser.add_argument("--monsters", type=int, default=100, help="monsters per map (one message per tick)")
        parser.add_argument("--tick-ms", type=float, default=100.0, help="AI tick; rAthena thinks every 100 ms")
        parser.add_argument("--duration", type=float, default=0, help="seconds; 0 runs until Ctrl-C")
        parser.add_argument("--json", action="store_true", help="send states as JSON arrays, not compact base64")
        parser.add_argument("--url", default=None, help="broker URL (default: the farm's)")

    def handle(self, *args, **options):
        from aiworld.celery import app

        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        try:
            mapserver.run(url=options["url"] or app.conf.broker_url, servers=options["servers"],
                          monsters=options["monsters"], tick_ms=options["tick_ms"], duration_s=options["duration"],
                          compact=not options["json"], report=lambda text: self.stdout.write(text), stop=stop)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
