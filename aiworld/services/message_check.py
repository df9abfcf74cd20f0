"""What `check_message` reports: envelope problems, then payload problems for known tasks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from aiworld.errors import PayloadError
from aiworld.protocol.envelope import decode_body
from aiworld.protocol.envelope import problems as envelope_problems


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check(raw: bytes) -> Report:
    report = Report(problems=envelope_problems(raw))
    if report.problems:
        return report
    message = json.loads(raw)
    task = message["headers"]["task"]
    queue = message["properties"]["delivery_info"]["routing_key"]
    args, kwargs, _ = decode_body(message)
    report.notes.append(f"task {task} for queue {queue!r}, priority {message['properties'].get('priority', 0)}")
    if task == "aiworld.mobs.decide":
        if message["headers"].get("ignore_result") is not True:
            report.notes.append("headers.ignore_result should be true for aiworld.mobs.decide (the reply key is "
                                "the answer; the worker stores no result either way)")
        _check_decide(args, kwargs, queue, report)
    elif task == "aiworld.ops.echo":
        if len(args) != 1 or not isinstance(args[0], dict) or kwargs:
            report.problems.append("aiworld.ops.echo takes exactly one argument: a JSON object")
    else:
        report.notes.append("no payload check for this task")
    return report


def _check_decide(args: list, kwargs: dict, queue: str, report: Report) -> None:
    from aiworld.mobs.payload import decode

    if queue != "gpu":
        report.problems.append(f"aiworld.mobs.decide goes to the gpu queue, not {queue!r}")
    if kwargs or len(args) != 1:
        report.problems.append("aiworld.mobs.decide takes exactly one positional argument (the batch) and no kwargs")
        return
    try:
        batch = decode(args[0])
    except PayloadError as exc:
        report.problems.append(f"{exc.code}: {exc.message}")
        return
    report.notes.append(f"{len(batch)} valid request(s) for server {batch.server!r}, tick {batch.tick}, "
                        f"replies on {batch.reply_to!r} (TTL {batch.reply_ttl_s} s)")
    payload = args[0]
    if "monsters" in payload or "states_b64" in payload:
        report.notes.append("faster to send and to read: columns instead of monsters, states_f16_b64 instead of "
                            "states_b64, and the body as JSON text without body_encoding (docs/protocol.md §5)")
    for error in batch.errors:
        report.problems.append(f"request {error.rid}: {error.code}: {error.message}")
