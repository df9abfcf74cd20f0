"""Configuration from the environment: each bad value gives one error naming its variable."""

import pytest

from aiworld import env


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in ("DATABASE_URL", "BROKER_URL", "RESULT_BACKEND_URL", "FLOWER_BASIC_AUTH", "AIWORLD_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIWORLD_DATA_DIR", str(tmp_path))
    return monkeypatch


@pytest.mark.parametrize(
    ("name", "value", "reader"),
    [
        ("DATABASE_URL", "mysql://u:p@h/db", env.database_url),
        ("DATABASE_URL", "not a url", env.database_url),
        ("DATABASE_URL", "postgres://u:p@host:port/db", env.database_url),
        ("BROKER_URL", "amqp://guest@localhost//", env.broker_url),
        ("BROKER_URL", "redis://", env.broker_url),
        ("RESULT_BACKEND_URL", "http://x", env.result_backend_url),
        ("AIWORLD_ENV", "staging", env.mode),
        ("FLOWER_BASIC_AUTH", "justauser", env.flower_basic_auth),
    ],
)
def test_malformed_value_names_the_variable(clean_env, name, value, reader):
    clean_env.setenv(name, value)
    with pytest.raises(env.EnvError, match=name):
        reader()


@pytest.mark.parametrize(("name", "reader"), [("DATABASE_URL", env.database_url), ("BROKER_URL", env.broker_url),
                                              ("FLOWER_BASIC_AUTH", env.flower_basic_auth)])
def test_production_requires_the_variable(clean_env, name, reader):
    clean_env.setenv("AIWORLD_ENV", "production")
    with pytest.raises(env.EnvError, match=f"{name} is required"):
        reader()


def test_development_falls_back_to_the_running_embedded_services(clean_env, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "services.json").write_text(
        '{"database_url": "postgresql://postgres:@/aiworld?host=/x", "broker_url": "redis://127.0.0.1:7777/0"}')
    assert env.database_url() == "postgresql://postgres:@/aiworld?host=/x"
    assert env.broker_url() == "redis://127.0.0.1:7777/0"
    assert env.result_backend_url() == "redis://127.0.0.1:7777/0"


def test_development_without_running_services_points_at_the_embedded_location(clean_env, tmp_path):
    assert env.database_url().endswith(f"?host={tmp_path / 'pg'}")
    assert env.broker_url() == "redis://127.0.0.1:6390/0"


def test_valid_values_pass_through(clean_env):
    clean_env.setenv("DATABASE_URL", "postgres://ai:secret@db.internal:5432/aiworld")
    clean_env.setenv("BROKER_URL", "redis://dragonfly:6379/0")
    assert env.database_url() == "postgres://ai:secret@db.internal:5432/aiworld"
    assert env.broker_url() == "redis://dragonfly:6379/0"


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("0", False), ("Yes", True)])
def test_bool(clean_env, value, expected):
    clean_env.setenv("SOME_FLAG", value)
    assert env.get_bool("SOME_FLAG", default=not expected) is expected


def test_int_and_list_errors(clean_env):
    clean_env.setenv("WEB_PORT", "eighty")
    with pytest.raises(env.EnvError, match="WEB_PORT is malformed"):
        env.get_int("WEB_PORT", 8000)
    clean_env.setenv("WEB_PORT", "70000")
    with pytest.raises(env.EnvError, match="WEB_PORT is out of range"):
        env.get_int("WEB_PORT", 8000, minimum=1, maximum=65535)
    clean_env.setenv("ALLOWED_HOSTS", "a.example,,b.example")
    with pytest.raises(env.EnvError, match="ALLOWED_HOSTS is malformed"):
        env.get_list("ALLOWED_HOSTS", [])
