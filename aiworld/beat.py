"""Beat scheduler: django-celery-beat's DatabaseScheduler plus a liveness heartbeat for doctor."""

from __future__ import annotations

import time

import redis
from django_celery_beat.schedulers import DatabaseScheduler


class HeartbeatScheduler(DatabaseScheduler):
    """Writes the time of every tick to the broker, so `doctor` can tell that beat is alive."""

    def tick(self, *args, **kwargs):
        interval = super().tick(*args, **kwargs)
        self._beat_heartbeat()
        return interval

    def _beat_heartbeat(self) -> None:
        import celeryconfig

        try:
            if getattr(self, "_heartbeat_client", None) is None:
                self._heartbeat_client = redis.Redis.from_url(
                    self.app.conf.broker_url, socket_timeout=2, socket_connect_timeout=2
                )
            self._heartbeat_client.set(
                celeryconfig.BEAT_HEARTBEAT_KEY, f"{time.time():.3f}", ex=celeryconfig.BEAT_HEARTBEAT_STALE_S * 4
            )
        except redis.RedisError:
            self._heartbeat_client = None  # the broker is down; beat itself logs that
