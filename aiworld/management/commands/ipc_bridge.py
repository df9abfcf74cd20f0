"""Answer the seed system's PostgreSQL IPC (ai_requests -> ai_responses) with our engine.

    python manage.py ipc_bridge [--batch-size 512] [--once] [--install-schema-only]

Connects to IPC_DATABASE_URL (the database where the map server writes ai_requests), or to the
farm's DATABASE_URL. docs/ipc_bridge.md explains the schema, statuses and timeouts."""

from __future__ import annotations

import os
import signal
import threading

import psycopg2
from django.core.management.base import BaseCommand

from aiworld import env
from aiworld.services import ipc_bridge
from aiworld.services.mobs import serving


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=512)
        parser.add_argument("--pending-timeout", type=float, default=5.0, help="seconds before a pending row times out")
        parser.add_argument("--retention", type=float, default=3600.0, help="seconds finished rows are kept")
        parser.add_argument("--once", action="store_true", help="answer what is pending, then exit")
        parser.add_argument("--install-schema-only", action="store_true")

    def handle(self, *args, **options):
        url = os.environ.get("IPC_DATABASE_URL") or env.database_url()

        def connect():
            return psycopg2.connect(url)

        if options["install_schema_only"]:
            conn = connect()
            ipc_bridge.install_schema(conn)
            conn.close()
            self.stdout.write("ai_requests / ai_responses schema installed")
            return
        settings = ipc_bridge.BridgeSettings(batch_size=options["batch_size"],
                                             pending_timeout_s=options["pending_timeout"],
                                             retention_s=options["retention"])
        worker_id = f"ipc-bridge@{os.uname().nodename}:{os.getpid()}"
        service = serving(worker_id)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(f"{worker_id} listening on channel {ipc_bridge.CHANNEL}")
        completed, failed = ipc_bridge.serve(connect, worker_id, settings,
                                             lambda batch: service.decide(batch, settings.decide_timeout_s),
                                             stop, once=options["once"])
        self.stdout.write(f"answered {completed} request(s), {failed} failed")
