"""Accounts for game masters."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from aiworld import env


@dataclass
class GmAccount:
    username: str
    created: bool
    generated_password: str | None = None


def ensure_gm_superuser() -> GmAccount:
    """The GM superuser named by GM_USERNAME (default 'gm'), created if missing."""
    username = env.get_str("GM_USERNAME", "gm")
    email = env.get_str("GM_EMAIL", "")
    password = env.get_str("GM_PASSWORD")
    if password is None and env.is_production():
        raise env.EnvError("GM_PASSWORD is required to create the GM account when AIWORLD_ENV=production")
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        return GmAccount(username=username, created=False)
    generated = None
    if password is None:
        password = generated = secrets.token_urlsafe(12)
    try:
        with transaction.atomic():
            User.objects.create_superuser(username=username, email=email, password=password)
    except IntegrityError:  # created concurrently by another process
        return GmAccount(username=username, created=False)
    return GmAccount(username=username, created=True, generated_password=generated)
