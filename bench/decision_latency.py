"""Where the latency of one monster-decision message goes, stage by stage, from its LPUSH to its
reply being read: one simulated map server paced at one message per 100 ms tick (the idle gaps of
a real map server), one real gpu worker (threads pool, as the Procfile runs it), forced level 3.

    python -m aiworld.launcher exec --fresh -- python bench/decision_latency.py [--monsters 500] [--form fast]
        [--models shipped] [--consumer celery]

The worker is instrumented from outside the code base: a sitecustomize.py written to a temporary
folder (on the worker's PYTHONPATH only) records wall-clock timestamps at Celery's signals, around
kombu's delivery and unacked copy, and around aiworld's decode, engine pass and reply. Producer and
worker share the machine's clock. Loopback only; 100 messages; stops by itself.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
import decisions  # noqa: E402 - sets up Django and the path like the other benchmarks

from aiworld.env import PROJECT_ROOT  # noqa: E402

HOOKS = r'''
import os, time
_path = os.environ.get("AIWORLD_LATENCY_LOG")
if _path:
    from celery import signals
    import kombu.transport.redis as _redis_transport

    _log = open(_path, "a", buffering=1)
    _reading = {}

    def _mark(stage, task_id, at=None):
        _log.write(f"{stage} {task_id} {time.time() if at is None else at:.6f}\n")

    _read = _redis_transport.Channel._brpop_read
    def _brpop_read(self, **options):
        _reading["at"] = time.time()
        return _read(self, **options)
    _redis_transport.Channel._brpop_read = _brpop_read

    _append = _redis_transport.QoS.append
    def _qos_append(self, message, delivery_tag):
        task_id = message.headers.get("id")
        _mark("read", task_id, _reading.get("at"))
        _mark("copy", task_id)
        result = _append(self, message, delivery_tag)
        _mark("copied", task_id)
        return result
    _redis_transport.QoS.append = _qos_append

    signals.task_received.connect(lambda request=None, **_: _mark("request", request.id), weak=False)
    signals.task_prerun.connect(lambda task_id=None, **_: _mark("started", task_id), weak=False)

    from aiworld.mobs import consumer as _direct

    _handle = _direct.DirectConsumer.handle
    def _direct_handle(self, raw, thread):
        _reading["direct"] = time.time()
        return _handle(self, raw, thread)
    _direct.DirectConsumer.handle = _direct_handle
    _parse = _direct.parse
    def _direct_parse(raw, **options):
        request = _parse(raw, **options)
        _mark("read", request.id, _reading.get("direct"))
        _mark("request", request.id)
        return request
    _direct.parse = _direct_parse

    @signals.worker_init.connect(weak=False)
    def _wrap_aiworld(**_):
        import threading
        from aiworld.services import mobs as service
        from aiworld.tasks import mobs as task

        current = threading.local()
        decode = task.decode
        def _decode(payload):
            current.task_id = task.decide.request.id
            _mark("validate", current.task_id)
            return decode(payload)
        task.decode = _decode
        decide = service.Serving.decide
        def _decide(self, batch, timeout):
            _mark("engine", current.task_id)
            return decide(self, batch, timeout)
        service.Serving.decide = _decide
        reply = service.Serving.reply
        def _reply(self, batch, decisions, task_id):
            _mark("reply", task_id)
            reply(self, batch, decisions, task_id)
            _mark("replied", task_id)
        service.Serving.reply = _reply
'''

DIRECT_STAGES = (
    ("sent", "read", "broker and wake-up: LPUSH until the worker has taken the message (one atomic move)"),
    ("read", "request", "read and parse, Celery request built (direct consumer)"),
    ("request", "started", "task start in the consumer's own thread"),
)
STAGES = (
    ("sent", "read", "broker and wake-up: LPUSH until the worker reads the message"),
    ("read", "copy", "read and parse (kombu)"),
    ("copy", "copied", "unacked copy (kombu's ack emulation: re-serialize + a round trip)"),
    ("copied", "request", "Celery request built"),
    ("request", "started", "hand-off to a pool thread, task start"),
    ("started", "validate", "body decoded (Celery), task entered"),
    ("validate", "engine", "payload validation (aiworld.mobs.payload.decode)"),
    ("engine", "reply", "engine pass (batcher, fallback level 3, 6 archetypes)"),
    ("reply", "received", "reply encoded and pushed, until the map server has read it"),
    ("sent", "received", "**total**: LPUSH to reply read"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--monsters", type=int, default=500)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--form", default="fast", choices=sorted(decisions.client.FORMS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="small", choices=sorted(decisions.MODEL_SETS))
    parser.add_argument("--consumer", default="direct", choices=("direct", "celery"),
                        help="how the worker takes messages (AIWORLD_GPU_CONSUMER)")
    options = parser.parse_args()
    if not 1 <= options.monsters <= 4096 or not 20 <= options.messages <= 1000:
        parser.error("--monsters 1..4096 and --messages 20..1000")
    url = os.environ["BROKER_URL"]
    setup = decisions.machine()
    tmp = decisions.prepare("bench-latency-", options.models)
    hooks = tmp / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(HOOKS)
    log = tmp / "stages.log"
    conn = redis.Redis.from_url(url, socket_timeout=10)
    conn.delete(decisions.client.QUEUE)
    stages = STAGES if options.consumer == "celery" else DIRECT_STAGES + STAGES[5:]
    env = decisions.subprocess_env(**decisions.WORKER_ENV, AIWORLD_LATENCY_LOG=str(log),
                                   AIWORLD_GPU_CONSUMER=options.consumer,
                                   PYTHONPATH=os.pathsep.join([str(hooks), str(PROJECT_ROOT)]))
    worker = decisions.start_worker(tmp, "gpu", env, pool="threads", concurrency=options.threads)
    marks: dict[str, dict[str, float]] = collections.defaultdict(dict)
    try:
        decisions.memory_per_archetype(url, worker.pid)  # every archetype's models loaded
        producer = decisions.Producer(0, url, options.monsters, 0.1, 1, None, decisions.client.FORMS[options.form])
        warmup = 10
        for i in range(options.messages + warmup):
            task_id = str(uuid.uuid4())
            message = producer.template.replace(decisions.TASK_PLACEHOLDER, task_id).replace(
                decisions.TAG_PLACEHOLDER, str(uuid.uuid4()))
            sent = time.time()
            conn.lpush(decisions.client.QUEUE, message)
            if conn.brpop([producer.reply_to], timeout=5) is None:
                raise RuntimeError(f"no reply within 5 s:\n{worker.log_tail(40)}")
            if i >= warmup:
                marks[task_id].update(sent=sent, received=time.time())
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        worker.stop()
    for line in log.read_text().splitlines():
        stage, task_id, at = line.split()
        if task_id in marks:
            marks[task_id][stage] = float(at)
    complete = [m for m in marks.values() if all(a in m and b in m for a, b, _ in stages)]
    if len(complete) < len(marks) * 0.9:
        raise RuntimeError(f"only {len(complete)} of {len(marks)} messages have every mark")
    print(f"\ncommand: python -m aiworld.launcher exec --fresh -- python {' '.join(sys.argv)}")
    print(f"machine: {setup}")
    print(f"{len(complete)} messages of {options.monsters} monsters, {options.form} form, one every 100 ms; one gpu "
          f"worker (threads pool, {options.threads} threads, {options.consumer} consumer), level 3, "
          f"{options.models} models for 6 archetypes\n")
    print("| stage | median ms | p90 ms |")
    print("|---|---|---|")
    for a, b, name in stages:
        values = np.array([(m[b] - m[a]) * 1000 for m in complete])
        print(f"| {name} | {np.median(values):.2f} | {np.percentile(values, 90):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
