"""Register the trained models shipped in models/shipped/ and activate them where no model is active."""

from django.core.management.base import BaseCommand

from aiworld.services import shipped_models


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        done = shipped_models.install()
        for archetype, what in done.items():
            self.stdout.write(f"{archetype}: {what}")
        if not done:
            self.stdout.write("no shipped models found")
