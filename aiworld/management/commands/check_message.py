"""Tell a map-server developer what is wrong with a message before sending it.

    python manage.py check_message FILE      (or - for standard input)

FILE holds the exact bytes the map server would LPUSH. Checks the Celery protocol v2 envelope
(including the missing delivery_tag pitfall) and, for aiworld.mobs.decide, the payload of every
monster. Exit 0 when the message is fine, 1 otherwise."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from aiworld.services.message_check import check


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("file", help="a file with the message bytes, or - for standard input")

    def handle(self, *args, **options):
        raw = sys.stdin.buffer.read() if options["file"] == "-" else open(options["file"], "rb").read()
        report = check(raw)
        for line in report.notes:
            self.stdout.write(f"  {line}")
        for line in report.problems:
            self.stdout.write(self.style.ERROR(f"PROBLEM {line}"))
        if report.problems:
            self.stdout.write(self.style.ERROR(f"{len(report.problems)} problem(s): the farm would not answer "
                                               "this message as intended"))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("message OK"))


