"""Celery protocol v2 messages built by hand, as a C++ map server builds them (docs/protocol.md).

Pure functions, no Celery and no Redis imports: this module is the executable form of the
contract, shared by the reference producer and by the validator.
"""

from __future__ import annotations

import base64
import json
import uuid
from bisect import bisect

PRIORITY_STEPS = (0, 3, 6, 9)  # must match celeryconfig.PRIORITY_STEPS
PRIORITY_SEP = "\x06\x16"  # must match celeryconfig.PRIORITY_SEP
EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def priority_step(priority: int) -> int:
    """The step a priority 0..9 falls into (kombu rounds down to 0, 3, 6 or 9)."""
    if not 0 <= priority <= 9:
        raise ValueError(f"priority must be 0..9, got {priority}")
    return PRIORITY_STEPS[bisect(PRIORITY_STEPS, priority) - 1]


def queue_key(queue: str, priority: int = 0) -> str:
    """The Redis list a message of this priority goes to. Step 0 is the bare queue name and is
    served first; then "<queue>\\x06\\x163", "\\x06\\x166", "\\x06\\x169"."""
    step = priority_step(priority)
    return queue if step == 0 else f"{queue}{PRIORITY_SEP}{step}"


def build_message(
    task: str,
    args: list | None = None,
    kwargs: dict | None = None,
    *,
    queue: str,
    task_id: str | None = None,
    priority: int = 0,
    time_limit: tuple[float | None, float | None] = (None, None),
    origin: str = "reference-producer",
    ignore_result: bool = False,
    body_encoding: str | None = "base64",
) -> dict:
    """A complete protocol v2 envelope. Every task argument must be sent: Python-side defaults are
    not part of the message. ``time_limit`` is (hard, soft), as Celery's header is. ``ignore_result``:
    the worker stores no success result (the header overrides the task's own setting).
    ``body_encoding`` None: the body is the JSON text itself rather than base64 of it."""
    task_id = task_id or str(uuid.uuid4())
    args = list(args or [])
    kwargs = dict(kwargs or {})
    if body_encoding not in ("base64", None):
        raise ValueError("body_encoding must be 'base64' or None")
    body = json.dumps([args, kwargs, EMBED], separators=(",", ":"))
    message = {
        "body": base64.b64encode(body.encode("utf-8")).decode("ascii") if body_encoding else body,
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py",
            "task": task,
            "id": task_id,
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": list(time_limit),
            "root_id": task_id,
            "parent_id": None,
            "argsrepr": repr(args)[:200],
            "kwargsrepr": repr(kwargs)[:200],
            "origin": origin,
            "ignore_result": ignore_result,
        },
        "properties": {
            "correlation_id": task_id,
            "reply_to": "",
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": priority,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    if body_encoding is None:
        del message["properties"]["body_encoding"]
    return message


def decode_body(message: dict) -> object:
    """The body's JSON value: base64 of the JSON text, or the JSON text itself when the message has
    no body_encoding (what kombu does with either)."""
    raw = message.get("body", "")
    props = message.get("properties")
    if isinstance(props, dict) and props.get("body_encoding") == "base64":
        raw = base64.b64decode(raw, validate=True)
    return json.loads(raw)


def encode(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode("utf-8")


def problems(raw: bytes | str | dict) -> list[str]:
    """What is wrong with a message, in words a map-server developer can act on (empty: fine)."""
    if isinstance(raw, dict):
        message = raw
    else:
        try:
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            return [f"not JSON: {exc}"]
    if not isinstance(message, dict):
        return ["the message must be a JSON object"]
    found: list[str] = []
    headers = message.get("headers")
    props = message.get("properties")
    if not isinstance(headers, dict):
        found.append("headers missing: Celery protocol v2 puts task and id in headers")
        headers = {}
    if not isinstance(props, dict):
        found.append("properties missing")
        props = {}
    for name in ("task", "id"):
        if not isinstance(headers.get(name), str) or not headers.get(name):
            found.append(f"headers.{name} missing or not a string")
    if not props.get("delivery_tag"):
        found.append(
            "properties.delivery_tag missing: kombu drops such a message silently "
            "(the worker logs 'connection lost' and the message is gone); use a fresh UUID4"
        )
    info = props.get("delivery_info")
    if not isinstance(info, dict) or "exchange" not in info or not info.get("routing_key"):
        found.append('properties.delivery_info must hold "exchange" ("") and "routing_key" (the queue name)')
    encoding = props.get("body_encoding")
    if encoding not in ("base64", None):
        found.append('properties.body_encoding must be "base64", or absent when body is the JSON text itself')
    if message.get("content-type") != "application/json":
        found.append('content-type must be "application/json" (the workers accept JSON only)')
    timelimit = headers.get("timelimit", [None, None])
    if not (isinstance(timelimit, list) and len(timelimit) == 2):
        found.append("headers.timelimit must be [hard, soft] (two numbers or nulls)")
    priority = props.get("priority", 0)
    if not isinstance(priority, int) or not 0 <= priority <= 9:
        found.append("properties.priority must be an integer 0..9")
    try:
        body = decode_body(message)
    except (ValueError, TypeError) as exc:
        found.append(f"body is not base64 of JSON: {exc}" if encoding == "base64" else
                     f"body is not JSON text (without body_encoding the body is the JSON itself): {exc}")
    else:
        if not (isinstance(body, list) and len(body) == 3 and isinstance(body[0], list)
                and isinstance(body[1], dict) and isinstance(body[2], dict)):
            found.append("body must decode to [args (array), kwargs (object), embed (object)]")
    return found
