"""Secrets for development: generated once into <data_dir>/secrets.env (git-ignored), reused after.

Production sets every secret in the environment (aiworld.env refuses to start without them).
"""

from __future__ import annotations

import os
import secrets as _random

from aiworld import env

_GENERATORS = {
    "SECRET_KEY": lambda: _random.token_urlsafe(50),
    "FLOWER_PASSWORD": lambda: _random.token_urlsafe(12),
}


def _path():
    return env.data_dir() / "secrets.env"


def _read() -> dict[str, str]:
    try:
        lines = _path().read_text().splitlines()
    except FileNotFoundError:
        return {}
    values: dict[str, str] = {}
    for line in lines:
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values.setdefault(key.strip(), value.strip())  # first writer wins
    return values


def development_secret(name: str) -> str:
    """The stored value of a development secret, generated and stored the first time."""
    stored = _read()
    if name in stored:
        return stored[name]
    value = _GENERATORS[name]()
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_APPEND keeps concurrent first starts from clobbering each other's lines.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as handle:
        handle.write(f"{name}={value}\n")
    return _read()[name]
