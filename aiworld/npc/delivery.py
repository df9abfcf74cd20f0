"""Replies to the map server: one JSON document LPUSHed onto the caller's reply key, with a TTL so
that keys nobody reads do not accumulate."""

from __future__ import annotations

import orjson

from aiworld.services import kv


def deliver(reply_to: str | None, ttl_s: int, document: dict) -> None:
    if not reply_to:
        return
    pipe = kv.client().pipeline(transaction=False)
    pipe.lpush(reply_to, orjson.dumps(document, default=str))
    pipe.expire(reply_to, ttl_s)
    pipe.execute()


def error_document(code: str, message: str, **ids) -> dict:
    return {"v": 1, "ok": False, "error": {"code": code, "message": message}, **ids}
