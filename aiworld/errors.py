"""Errors shared by tasks and the services they call (no Celery import, no cycles)."""

from __future__ import annotations


class PayloadError(Exception):
    """The payload is malformed or invalid; running it again cannot succeed."""

    def __init__(self, code: str, message: str):
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class TransientError(Exception):
    """A dependency failed in a way that may succeed next time (timeouts, a restarting server)."""
