"""python manage.py create_api_key --server map-1 --name "quest board" : prints the key once."""

from django.core.management.base import BaseCommand

from aiworld.services import api_keys


class Command(BaseCommand):
    help = "Create an API key for the HTTP API of one map server; the key is printed once and never stored."

    def add_arguments(self, parser):
        parser.add_argument("--server", required=True, help="the map-server id the key may act for")
        parser.add_argument("--name", required=True, help="who or what uses the key")

    def handle(self, *args, server: str, name: str, **options):
        row, key = api_keys.create(name=name, server=server)
        self.stdout.write(f"API key {row.prefix}… for server {server!r} ({name}):\n{key}\n"
                          "Store it now: only its SHA-256 is kept.")
