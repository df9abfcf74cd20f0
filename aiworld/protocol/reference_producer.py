"""Reference producer: what a map server does, with raw Redis commands only (no Celery API).

    python -m aiworld.protocol.reference_producer --queue cpu --task aiworld.ops.echo \
        --args '[{"hello": "world"}]' --wait 10

1. SUBSCRIBE celery-task-meta-<id> (so the result cannot be missed), 2. LPUSH the envelope onto the
queue key, 3. wait for the PUBLISH, or GET the key after it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid

import redis

from aiworld.protocol.envelope import build_message, encode, problems, queue_key

RESULT_PREFIX = "celery-task-meta-"


def send(client: redis.Redis, task: str, args: list, kwargs: dict, *, queue: str, priority: int = 0,
         task_id: str | None = None) -> str:
    message = build_message(task, args, kwargs, queue=queue, priority=priority, task_id=task_id or str(uuid.uuid4()))
    found = problems(message)
    if found:
        raise ValueError("; ".join(found))
    client.lpush(queue_key(queue, priority), encode(message))
    return message["headers"]["id"]


def read_result(client: redis.Redis, task_id: str) -> dict | None:
    raw = client.get(RESULT_PREFIX + task_id)
    return json.loads(raw) if raw else None


def call(client: redis.Redis, task: str, args: list, kwargs: dict, *, queue: str, priority: int = 0,
         timeout: float = 10.0) -> dict:
    """Send and wait for the result document ({"status", "result", "traceback", ...})."""
    task_id = str(uuid.uuid4())
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(RESULT_PREFIX + task_id)
    try:
        send(client, task, args, kwargs, queue=queue, priority=priority, task_id=task_id)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pubsub.get_message(timeout=min(0.5, max(0.0, deadline - time.monotonic())))
            document = read_result(client, task_id)
            if document and document.get("status") in ("SUCCESS", "FAILURE", "REVOKED"):
                return document
        raise TimeoutError(f"no result for task {task_id} within {timeout}s")
    finally:
        pubsub.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=None, help="broker URL (default: BROKER_URL or the embedded broker)")
    parser.add_argument("--queue", required=True, help="gpu, cpu or train")
    parser.add_argument("--task", required=True, help="task name, e.g. aiworld.ops.echo")
    parser.add_argument("--args", default="[]", help="JSON array of positional arguments")
    parser.add_argument("--kwargs", default="{}", help="JSON object of keyword arguments")
    parser.add_argument("--priority", type=int, default=0, help="0 (served first) .. 9")
    parser.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the result; 0: do not wait")
    options = parser.parse_args(argv)
    if options.url is None:
        from aiworld import env

        options.url = os.environ.get("BROKER_URL") or env.broker_url()
    client = redis.Redis.from_url(options.url)
    args, kwargs = json.loads(options.args), json.loads(options.kwargs)
    if options.wait <= 0:
        print(send(client, options.task, args, kwargs, queue=options.queue, priority=options.priority))
        return 0
    document = call(client, options.task, args, kwargs, queue=options.queue, priority=options.priority,
                    timeout=options.wait)
    print(json.dumps(document, indent=2))
    return 0 if document.get("status") == "SUCCESS" else 1


if __name__ == "__main__":
    sys.exit(main())
