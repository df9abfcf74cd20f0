"""One Redis-protocol client per process for shared state that is not a queue: rate limits,
circuit breakers, caches, in-flight de-duplication. It is the broker's server (DragonflyDB in
production), so a farm needs nothing else to share these between workers."""

from __future__ import annotations

import os
import threading

import redis

_lock = threading.Lock()
_clients: dict[int, redis.Redis] = {}


def client() -> redis.Redis:
    """The process's client (re-created after a fork: a connection pool must not cross one)."""
    pid = os.getpid()
    existing = _clients.get(pid)
    if existing is not None:
        return existing
    with _lock:
        if pid not in _clients:
            import celeryconfig

            _clients.clear()
            _clients[pid] = redis.Redis.from_url(celeryconfig.broker_url, socket_timeout=5, socket_connect_timeout=2,
                                                 health_check_interval=30)
        return _clients[pid]
