"""python manage.py ship_models [--archetype A] [--model-version N]: copy a version (default: the active one)
into models/shipped/ with its manifest, so a fresh install serves it (`load_shipped_models`)."""

from django.core.management.base import BaseCommand, CommandError

from aiworld.mobs.state import ARCHETYPES
from aiworld.services import shipped_models, training


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--archetype", choices=ARCHETYPES, help="default: every archetype with an active model")
        parser.add_argument("--model-version", type=int, help="default: the active fused version")

    def handle(self, *args, **o):
        archetypes = [o["archetype"]] if o["archetype"] else list(ARCHETYPES)
        for archetype in archetypes:
            version = o["model_version"] or training.active_version(archetype)
            if version is None:
                if o["archetype"]:
                    raise CommandError(f"{archetype} has no active fused model; name --model-version")
                continue
            folder = shipped_models.package(archetype, version)
            size = sum(p.stat().st_size for p in folder.iterdir())
            self.stdout.write(f"{archetype} v{version} -> {folder} ({size / 1e6:.2f} MB)")
