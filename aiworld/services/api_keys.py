"""Per-server API keys for the HTTP API: only a SHA-256 of each key is stored; the key is shown once."""

from __future__ import annotations

import hashlib
import secrets

from django.utils import timezone

from aiworld.models import ApiKey

PREFIX = "aiw_"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create(name: str, server: str) -> tuple[ApiKey, str]:
    """(row, key). The key is returned once and never stored."""
    key = PREFIX + secrets.token_urlsafe(32)
    row = ApiKey.objects.create(name=name, server=server, prefix=key[:12], key_sha256=_digest(key))
    return row, key


def authenticate(header: str | None) -> ApiKey | None:
    """The active key named by an `Authorization: Bearer <key>` header, or None."""
    if not header or not header.startswith("Bearer "):
        return None
    key = header.removeprefix("Bearer ").strip()
    if not key.startswith(PREFIX):
        return None
    row = ApiKey.objects.filter(key_sha256=_digest(key), active=True).first()
    if row is not None:
        ApiKey.objects.filter(pk=row.pk).update(last_used=timezone.now())
    return row
