"""python manage.py seed_demo_world: a small starting world (make run does this on a fresh install)."""

from django.core.management.base import BaseCommand

from aiworld.services import demo_world


class Command(BaseCommand):
    help = "Create demo factions, NPCs, items, markets and prices; existing rows (and GM edits) are kept."

    def handle(self, *args, **options):
        created = demo_world.seed()
        self.stdout.write("demo world: " + (", ".join(f"{n} {k}" for k, n in created.items() if n) or "already there"))
