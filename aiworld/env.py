"""Configuration from the environment (12-factor), with one clear error per bad variable.

Kept free of Django and Celery imports: settings.py, celeryconfig.py and the launcher all read
their values through here, so every process of the farm resolves the same URLs.

Modes (``AIWORLD_ENV``):
- ``development`` (default): missing URLs fall back to the embedded PostgreSQL/Valkey started by
  ``make run`` (their URLs are read from ``.aiworld/run/services.json``); secrets are generated
  once into ``.aiworld/secrets.env``.
- ``test``: like development, used by the test suite.
- ``production``: every value production needs must be set; a missing one is an error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODES = ("development", "test", "production")


class EnvError(Exception):
    """A required variable is missing or malformed. The message names the variable."""


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def mode() -> str:
    value = _raw("AIWORLD_ENV") or "development"
    if value not in MODES:
        raise EnvError(f"AIWORLD_ENV is malformed: expected one of {', '.join(MODES)}, got {value!r}")
    return value


def is_production() -> bool:
    return mode() == "production"


def data_dir() -> Path:
    """Project-local folder for embedded data, run state and generated secrets (git-ignored)."""
    return Path(_raw("AIWORLD_DATA_DIR") or PROJECT_ROOT / ".aiworld").resolve()


def state_file() -> Path:
    return data_dir() / "run" / "services.json"


def read_embedded_state() -> dict | None:
    """URLs of the embedded services written by the launcher, or None when none is running."""
    try:
        return json.loads(state_file().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def get_str(name: str, default: str | None = None, *, required_in_production: bool = False) -> str | None:
    value = _raw(name)
    if value is None and required_in_production and is_production():
        raise EnvError(f"{name} is required when AIWORLD_ENV=production (see docs/operations.md)")
    return value if value is not None else default


def get_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise EnvError(f"{name} is malformed: expected an integer, got {value!r}") from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise EnvError(f"{name} is out of range: expected {minimum}..{maximum}, got {number}")
    return number


def get_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise EnvError(f"{name} is malformed: expected true/false, got {value!r}")


def get_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() not in choices:
        raise EnvError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value.lower()


def get_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items):
        raise EnvError(f"{name} is malformed: expected a comma-separated list without empty items, got {value!r}")
    return items


def _check_url(name: str, value: str, schemes: tuple[str, ...], example: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise EnvError(
            f"{name} is malformed: expected a URL with scheme {' or '.join(schemes)} like {example}, got {value!r}"
        )
    # A Unix-socket PostgreSQL URL has no netloc but names its socket folder in ?host=.
    if not parts.netloc and "host=" not in parts.query and not parts.scheme.endswith("+socket"):
        raise EnvError(f"{name} is malformed: no host in {value!r} (expected something like {example})")
    try:
        parts.port  # noqa: B018 - raises ValueError on a non-numeric port
    except ValueError:
        raise EnvError(f"{name} is malformed: the port in {value!r} is not a number") from None
    return value


POSTGRES_SCHEMES = ("postgres", "postgresql", "pgsql")
REDIS_SCHEMES = ("redis", "rediss", "valkey", "valkeys", "redis+socket")


def database_url() -> str:
    """DATABASE_URL, else the embedded PostgreSQL's URL (running or expected)."""
    value = _raw("DATABASE_URL")
    if value is not None:
        return _check_url("DATABASE_URL", value, POSTGRES_SCHEMES, "postgres://user:password@host:5432/aiworld")
    if is_production():
        raise EnvError("DATABASE_URL is required when AIWORLD_ENV=production (postgres://user:password@host:5432/db)")
    state = read_embedded_state()
    if state and state.get("database_url"):
        return state["database_url"]
    # Nothing running: point at where the embedded server would listen, so commands fail with a
    # connection error that doctor turns into advice instead of crashing at import time.
    return f"postgresql://postgres@/aiworld?host={data_dir() / 'pg'}"


def broker_url() -> str:
    """BROKER_URL, else the embedded Valkey's URL (running or expected)."""
    value = _raw("BROKER_URL")
    if value is not None:
        return _check_url("BROKER_URL", value, REDIS_SCHEMES, "redis://host:6379/0")
    if is_production():
        raise EnvError("BROKER_URL is required when AIWORLD_ENV=production (redis://host:6379/0)")
    state = read_embedded_state()
    if state and state.get("broker_url"):
        return state["broker_url"]
    return f"redis://127.0.0.1:{get_int('AIWORLD_EMBEDDED_REDIS_PORT', 6390)}/0"


def result_backend_url() -> str:
    value = _raw("RESULT_BACKEND_URL")
    if value is not None:
        return _check_url("RESULT_BACKEND_URL", value, REDIS_SCHEMES, "redis://host:6379/1")
    return broker_url()


def flower_basic_auth() -> str:
    """``user:password`` for Flower: required in production, generated once in development."""
    value = get_str("FLOWER_BASIC_AUTH", required_in_production=True)
    if value is None:
        from aiworld.secrets import development_secret

        return f"flower:{development_secret('FLOWER_PASSWORD')}"
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise EnvError("FLOWER_BASIC_AUTH is malformed: expected user:password")
    return value
