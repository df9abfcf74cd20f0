"""Test set-up. The suite runs against real servers: `make test` starts embedded PostgreSQL and
Valkey (python -m aiworld.launcher exec --fresh) or uses DATABASE_URL / BROKER_URL from the
environment."""

from __future__ import annotations

import os

import pytest
import redis

os.environ.setdefault("AIWORLD_ENV", "test")


def pytest_configure(config: pytest.Config) -> None:
    missing = [name for name in ("DATABASE_URL", "BROKER_URL") if not os.environ.get(name)]
    if missing:
        pytest.exit(f"{' and '.join(missing)} not set: run `make test`, which starts real embedded servers, "
                    "or point them at a PostgreSQL and a Redis-protocol server", returncode=2)


@pytest.fixture
def broker() -> redis.Redis:
    return redis.Redis.from_url(os.environ["BROKER_URL"])


@pytest.fixture(scope="module")
def clean_broker() -> redis.Redis:
    """A broker database emptied before the module's workers start."""
    client = redis.Redis.from_url(os.environ["BROKER_URL"])
    client.flushdb()
    return client


@pytest.fixture(scope="module")
def worker_env(django_db_setup, django_db_blocker, clean_broker) -> dict[str, str]:
    """Environment for subprocesses: the test database, the test broker."""
    from django.conf import settings
    from django.core.management import call_command

    from tests.support.processes import database_url_for, subprocess_env

    with django_db_blocker.unblock():
        # pytest-django leaves the test database unmigrated when no test of the session asks for
        # the db itself; the subprocesses need the schema regardless.
        call_command("migrate", verbosity=0)
    return subprocess_env(DATABASE_URL=database_url_for(settings.DATABASES["default"]["NAME"]))
