"""The embedded PostgreSQL's shared_buffers: sized from RAM or $AIWORLD_PG_SHARED_BUFFERS, applied with one
restart of a fresh data folder, kept without a restart afterwards, and a bad value is a clear error."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import psycopg2
import pytest

from aiworld import embedded
from aiworld.embedded import SHARED_BUFFERS_ENV, EmbeddedError, EmbeddedServices

pytestmark = pytest.mark.integration

GIB = 2**30


@pytest.mark.parametrize(("ram_gib", "expected"), [(0.25, "128MB"), (4, "1024MB"), (8, "2048MB"), (24, "4096MB")])
def test_a_quarter_of_ram_between_128_mb_and_2_gb(monkeypatch, ram_gib, expected):
    monkeypatch.delenv(SHARED_BUFFERS_ENV, raising=False)
    monkeypatch.setattr(embedded.psutil, "virtual_memory", lambda: SimpleNamespace(total=int(ram_gib * GIB)))
    assert embedded.shared_buffers() == expected


def test_the_environment_overrides_the_size(monkeypatch):
    monkeypatch.setenv(SHARED_BUFFERS_ENV, " 512MB ")
    assert embedded.shared_buffers() == "512MB"


def _shared_buffers(services: EmbeddedServices) -> str:
    with psycopg2.connect(services.state.database_url) as conn, conn.cursor() as cur:
        cur.execute("SHOW shared_buffers")
        value = cur.fetchone()[0]
    conn.close()
    return value


def test_the_setting_is_applied_once_and_kept(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(SHARED_BUFFERS_ENV, "160MB")
    caplog.set_level(logging.INFO, logger="aiworld.embedded")
    services = EmbeddedServices(tmp_path / "data", redis_port=None, persist_broker=False)
    try:
        services.start()
        assert _shared_buffers(services) == "160MB"
        assert "restarting once" in caplog.text  # a fresh folder starts with PostgreSQL's 128MB
    finally:
        services.stop()

    caplog.clear()
    services = EmbeddedServices(tmp_path / "data", redis_port=None, persist_broker=False)
    try:
        services.start()
        assert _shared_buffers(services) == "160MB"
        assert "restarting once" not in caplog.text
    finally:
        services.stop()


def test_a_size_postgres_cannot_read_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(SHARED_BUFFERS_ENV, "plenty")
    services = EmbeddedServices(tmp_path / "data", redis_port=None, persist_broker=False)
    try:
        with pytest.raises(EmbeddedError, match=f"{SHARED_BUFFERS_ENV}='plenty' is not a size"):
            services.start()
        assert services._pg is None  # the server it started to check the value is stopped again
    finally:
        services.stop()
