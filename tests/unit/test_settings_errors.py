"""Settings refuse to start with one clear line naming the missing or malformed variable."""

import subprocess
import sys

import pytest

from aiworld.env import PROJECT_ROOT

PRODUCTION = {
    "AIWORLD_ENV": "production",
    "SECRET_KEY": "x" * 50,
    "ALLOWED_HOSTS": "ai.example.org",
    "DATABASE_URL": "postgres://ai:pw@db:5432/aiworld",
    "BROKER_URL": "redis://broker:6379/0",
    "FLOWER_BASIC_AUTH": "ops:pw",
    "PATH": "/usr/bin:/bin",
}


def load_settings(environ: dict[str, str]) -> subprocess.CompletedProcess:
    code = ("import django; django.setup(); from django.conf import settings; "
            "print(settings.DATABASES['default']['HOST'])")
    return subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          env={**environ, "DJANGO_SETTINGS_MODULE": "aiworld.settings"}, timeout=60)


def test_complete_production_environment_loads():
    result = load_settings(PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "db"


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"])
def test_missing_production_value(missing):
    environ = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = load_settings(environ)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last_line and missing in last_line


def test_malformed_value():
    result = load_settings({**PRODUCTION, "DATABASE_URL": "sqlite:///db.sqlite3"})
    assert result.returncode != 0
    assert "DATABASE_URL is malformed" in result.stderr.strip().splitlines()[-1]
