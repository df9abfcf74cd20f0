"""The embedded broker outlives a terminal's Ctrl-C: SIGINT reaches the launcher's whole process group, and the
workers still drain into Valkey while the launcher stops them; Valkey stops when the launcher stops it."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest
import redis

from aiworld.embedded import EmbeddedServices, free_port

pytestmark = pytest.mark.integration


def test_sigint_leaves_the_broker_serving_until_the_services_stop(tmp_path):
    with EmbeddedServices(tmp_path / "data", redis_port=free_port(), persist_broker=False) as state:
        broker = redis.Redis.from_url(state.broker_url, socket_timeout=5)
        assert broker.ping()
        os.kill(state.valkey_pid, signal.SIGINT)  # what the terminal sends to the process group on Ctrl-C
        time.sleep(0.5)
        assert broker.ping() and psutil.pid_exists(state.valkey_pid)
        assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())  # ours is not blocked
        pid = state.valkey_pid
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
