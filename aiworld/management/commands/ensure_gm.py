"""Create the GM superuser once: from GM_USERNAME / GM_EMAIL / GM_PASSWORD, or with a generated
password printed once. An existing account is left as it is."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from aiworld.services.accounts import ensure_gm_superuser


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        result = ensure_gm_superuser()
        if not result.created:
            self.stdout.write(f"GM account '{result.username}' exists; left unchanged.")
        elif result.generated_password:
            self.stdout.write(self.style.WARNING(
                f"Created GM superuser '{result.username}' with password: {result.generated_password}\n"
                "  (shown once: write it down, or set GM_PASSWORD before the first start)"
            ))
        else:
            self.stdout.write(f"Created GM superuser '{result.username}' with the password from GM_PASSWORD.")
