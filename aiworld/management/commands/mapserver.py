"""Simulated map servers driving the farm through raw Redis commands, with live statistics.

    python manage.py mapserver --servers 2 --monsters 100 --tick-ms 100 --duration 30

One line per second (decisions/s, p50/p99 latency from LPUSH to reply read, decisions per fallback
level, errors, missing replies), then a summary. --duration 0 runs until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import signal
import threading

import redis
from django.core.management.base import BaseCommand, CommandError

from aiworld.mobs import client
from aiworld.services import mapserver


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--servers", type=int, default=1, help="map servers (one thread and reply key each)")
        parser.add_argument("--monsters", type=int, default=100, help="monsters per map (one message per tick)")
        parser.add_argument("--tick-ms", type=float, default=100.0, help="AI tick; rAthena thinks every 100 ms")
        parser.add_argument("--duration", type=float, default=0, help="seconds; 0 runs until Ctrl-C / SIGTERM")
        parser.add_argument("--form", choices=tuple(client.FORMS), default="fast",
                            help="wire form (docs/protocol.md §5): fast = columns, float16 states, body as JSON "
                                 "text (default; recommended); compact = an object per monster and float32 states; "
                                 "json = states as JSON arrays")
        parser.add_argument("--url", default=None, help="Redis URL of the broker (default: the farm's BROKER_URL)")
        parser.add_argument("--seed", type=int, default=0, help="simulation seed of the first map (then +1 each)")
        parser.add_argument("--reply-timeout", type=float, default=2.0,
                            help="seconds after which a reply counts as missing")

    def handle(self, *args, **options):
        from aiworld.celery import app

        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            mapserver.run(url=options["url"] or app.conf.broker_url, servers=options["servers"],
                          monsters=options["monsters"], tick_ms=options["tick_ms"], duration_s=options["duration"],
                          form=options["form"], seed=options["seed"], reply_timeout_s=options["reply_timeout"],
                          report=lambda text: self.stdout.write(text), stop=stop,
                          cache_rate=mapserver.farm_cache_hit_rate)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        except (OSError, redis.RedisError) as exc:
            raise CommandError(f"cannot reach the broker: {exc}") from exc
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
