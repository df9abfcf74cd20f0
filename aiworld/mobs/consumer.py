"""The gpu worker's direct consumer: the `gpu` queue's messages taken with one Redis command each and
run as Celery tasks in the consumer's own threads, without kombu's transport.

Why: a map server sends a message per map per 100 ms tick, and kombu's per-message work before our task
starts (parse, the unacked copy of its ack emulation, the request, the hand-off to a pool thread) was about
3.5 ms of the 6.4 ms a small message took end to end, and a quarter of the worker's samples at saturation
(docs/benchmarks.md). What stays the same: the wire format (docs/protocol.md: LPUSH a Celery protocol v2
message onto the queue's priority lists), the task (`celery.worker.request.Request.execute`, so tracing,
failures in the result backend, dead letters, retries and revokes work as under Celery), the Celery
worker around it (heartbeats, remote control, Flower's worker list). `AIWORLD_GPU_CONSUMER=celery`
(celeryconfig.py) turns it off.

Delivery, as kombu's ack emulation guarantees it, with one command instead of three:
- Each consumer thread owns a "taken" list. A message moves from the queue to it atomically (a script
  over the four priority lists, in kombu's order, then `BLMOVE` on priority 0 to wait), and the key is
  deleted when the task is done (acknowledged).
- Each worker process keeps a key alive (TTL ALIVE_TTL_S, refreshed every HEARTBEAT_S) and lists itself in
  the queue's consumers hash. Every live consumer sweeps: the taken lists of a consumer whose key expired go back to the
  front of their priority's list, so another worker answers a killed worker's batch within about
  ALIVE_TTL_S + HEARTBEAT_S. A duplicate answer is harmless: answers carry request ids.
- A message that kills every worker that takes it (a crash in native code, the kernel's OOM killer) would go
  round the farm for ever: each death is counted per message (one sweeper per dead consumer, so once), and
  after MAX_DEATHS the message is dead-lettered and its failure stored instead of being put back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid

import orjson
import pybase64
import redis
from celery import bootsteps
from celery.worker import state as worker_state
from celery.worker.control import inspect_command
from celery.worker.request import Request
from kombu.message import Message
from kombu.serialization import prepare_accept_content

from aiworld.protocol.envelope import PRIORITY_STEPS, queue_key

log = logging.getLogger("aiworld.mobs.consumer")

ALIVE_TTL_S = 10.0
HEARTBEAT_S = 2.0
BLOCK_S = 0.2  # the wait on priority 0; the other priorities are looked at before each wait
RETRY_S = 1.0  # after a broker error
MAX_DEATHS = 3  # a message whose holder died this many times is dead-lettered instead of put back
DEATHS_TTL_S = 3600  # how long a message's death count is remembered
SWEEP_LOCK_MS = 30_000  # one sweeper per dead consumer at a time (each death counted once)

# The four priority lists in kombu's order (0 first), then the thread's taken list.
_TAKE = """
for i = 1, #KEYS - 1 do
  local message = redis.call('RPOP', KEYS[i])
  if message then
    redis.call('LPUSH', KEYS[#KEYS], message)
    return message
  end
end
return false
"""


def consumers_key(queue: str) -> str:
    """A hash: consumer id ("<node>:<pid>:<random>") -> its thread count."""
    return f"aiworld:direct:{queue}:consumers"


def alive_key(queue: str, consumer: str) -> str:
    return f"aiworld:direct:{queue}:alive:{consumer}"


def taken_key(queue: str, consumer: str, thread: int) -> str:
    return f"aiworld:direct:{queue}:taken:{consumer}:{thread}"


def sweeping_key(queue: str, consumer: str) -> str:
    return f"aiworld:direct:{queue}:sweeping:{consumer}"


def deaths_key(queue: str, raw: bytes) -> str:
    """Keyed by the message's bytes (a put-back message keeps them), not by its task id, which a map server
    might reuse."""
    return f"aiworld:direct:{queue}:deaths:{hashlib.blake2b(raw, digest_size=16).hexdigest()}"


class BadMessage(Exception):
    """The message is not a Celery protocol v2 task message this worker can run."""


def _json(text: bytes | str) -> object:
    """orjson (the standard library's JSON parser held the GIL a fifth of the worker's time at saturation,
    docs/benchmarks.md); what orjson refuses and the standard parser takes (NaN, Infinity, integers beyond
    64 bits) is parsed as before, so validation still answers such a request with its own error."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def parse(raw: bytes, *, hostname: str, app, on_ack, on_reject, accept: set[str] | None = None) -> Request:
    """A Celery request for one raw message, as kombu's redis transport and Celery's strategy build it."""
    try:
        envelope = _json(raw)
        properties = envelope["properties"]
        headers = envelope["headers"]
        body = envelope.get("body") or ""
        encoding = properties.get("body_encoding")
        if encoding == "base64":
            body = pybase64.b64decode(body)  # as kombu: not validated (characters outside the alphabet dropped)
        elif encoding is not None:
            raise BadMessage(f"unknown body_encoding {encoding!r}")
        accept = accept or prepare_accept_content(app.conf.accept_content)
        content_type, content_encoding = envelope.get("content-type"), envelope.get("content-encoding")
        message = Message(body=body, delivery_tag=properties.get("delivery_tag"),
                          content_type=content_type, content_encoding=content_encoding,
                          headers=headers, properties=properties, delivery_info=properties.get("delivery_info"),
                          postencode="utf-8", accept=accept)
        utf8 = (content_encoding or "utf-8").lower() in ("utf-8", "utf8")
        if content_type == "application/json" and content_type in accept and utf8 and body:
            message._decoded_cache = _json(body)  # what kombu's json loads would give, faster
        task = app.tasks.get(headers["task"])
        if task is None:
            raise BadMessage(f"task {headers['task']!r} is not registered on this worker")
        request_class = task.Request
        if isinstance(request_class, str):
            from celery.utils.imports import symbol_by_name

            request_class = symbol_by_name(request_class)
        request = request_class(message, on_ack=on_ack, on_reject=on_reject, hostname=hostname, app=app, task=task)
    except BadMessage:
        raise
    except Exception as exc:  # malformed JSON, missing fields, undecodable body, content type not accepted
        raise BadMessage(f"{type(exc).__name__}: {exc}") from exc
    if request.eta is not None:  # kombu's consumer would hold it on a timer; this one runs what it takes now
        raise BadMessage(f"{request.name}: an eta or countdown is not supported by the gpu worker's direct consumer "
                         "(send the task to cpu, or run the gpu worker with AIWORLD_GPU_CONSUMER=celery)")
    return request


class DirectConsumer:
    """Takes the messages of one queue for one worker process with `threads` threads."""

    def __init__(self, app, queue: str, hostname: str, threads: int, url: str | None = None):
        self.app = app
        self.queue = queue
        self.hostname = hostname
        self.threads = threads
        self.id = f"{hostname}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.client = redis.Redis.from_url(url or app.conf.broker_url, socket_timeout=30, socket_connect_timeout=5,
                                           health_check_interval=10)
        self._take = self.client.register_script(_TAKE)
        self._lists = [queue_key(queue, step) for step in PRIORITY_STEPS]
        self._taken = [taken_key(queue, self.id, thread) for thread in range(threads)]
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._accept = prepare_accept_content(app.conf.accept_content)

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self._beat()
        for i in range(self.threads):
            thread = threading.Thread(target=self._consume, args=(i,), name=f"direct-{self.queue}-{i}", daemon=True)
            thread.start()
            self._workers.append(thread)
        beat = threading.Thread(target=self._heartbeat, name=f"direct-{self.queue}-beat", daemon=True)
        beat.start()
        self._workers.append(beat)
        log.info("direct consumer %s on %s with %s threads", self.id, self.queue, self.threads)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the messages in hand, then leave: nothing is left taken, so nothing is redelivered."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._workers:
            thread.join(max(0.0, deadline - time.monotonic()))
        try:
            self.sweep(self.id)  # a thread that did not finish in time: its message goes back
            pipe = self.client.pipeline(transaction=False)
            pipe.delete(alive_key(self.queue, self.id))
            pipe.hdel(consumers_key(self.queue), self.id)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("direct consumer %s left without clearing its keys: %s", self.id, exc)

    # -- taking and running ----------------------------------------------------------------------
    def take(self, thread: int, block_s: float = BLOCK_S) -> bytes | None:
        taken = self._taken[thread]
        raw = self._take(keys=[*self._lists, taken])
        if raw is None and block_s > 0:
            raw = self.client.blmove(self._lists[0], taken, block_s, "RIGHT", "LEFT")
        return raw

    def _consume(self, thread: int) -> None:
        while not self._stop.is_set():
            try:
                raw = self.take(thread)
            except redis.RedisError as exc:
                log.warning("direct consumer %s: broker unavailable (%s); retrying in %ss", self.id, exc, RETRY_S)
                self._stop.wait(RETRY_S)
                continue
            if raw is None:
                continue
            try:
                self.handle(raw, thread)
            except Exception:  # e.g. the broker gone while acknowledging: the message stays taken, swept later
                log.exception("direct consumer %s: message not finished", self.id)

    def handle(self, raw: bytes, thread: int) -> None:
        """Run one message; whatever happens, the thread lives and the message is acknowledged or put back."""
        taken = self._taken[thread]

        def ack(*_):
            self.client.delete(taken)

        def reject(_logger=None, _errors=None, requeue=False):
            if requeue:
                self._put_back(taken)
            else:
                self.client.delete(taken)

        try:
            request = parse(raw, hostname=self.hostname, app=self.app, on_ack=ack, on_reject=reject,
                            accept=self._accept)
        except BadMessage as exc:
            self._bad_message(raw, str(exc))
            ack()
            return
        try:
            worker_state.task_accepted(request)
            try:
                request.execute()
            finally:
                worker_state.task_ready(request)
        except Exception:  # trace_task catches the task's own errors; this is everything around it
            log.exception("direct consumer %s: message %s failed outside its task", self.id, request.id)
        finally:
            if not request.acknowledged:
                try:
                    ack()
                except redis.RedisError as exc:  # left taken: it is swept back once this worker is gone
                    log.warning("could not acknowledge %s: %s", request.id, exc)

    def _bad_message(self, raw: bytes, why: str) -> None:
        log.error("direct consumer %s: bad message on %s dropped: %s", self.id, self.queue, why)
        self._dead_letter(raw, "bad_message", why)

    def _dead_letter(self, raw: bytes, code: str, why: str) -> bool:
        """Kept as a dead letter for GMs and, when the message has a task id, stored as that task's failure
        where a map server reads results (celery-task-meta-<id>). False when the dead letter could not be
        recorded (the database down)."""
        from aiworld.errors import PayloadError
        from aiworld.services.dead_letters import record_dead_letter

        text = raw.decode("utf-8", "replace")
        try:
            headers = json.loads(text).get("headers") or {}
            task_id, task_name = str(headers.get("id") or ""), str(headers.get("task") or "")
        except Exception:  # not JSON, or not an object
            task_id, task_name = "", ""
        letter = record_dead_letter(task_name=task_name[:200], task_id=task_id[:200], queue=self.queue,
                                    error_code=code, error_message=why[:2000], payload=text)
        if task_id:
            try:
                self.app.backend.mark_as_failure(task_id, PayloadError(code, why))
            except Exception as exc:  # the result backend down must not stop the consumer
                log.warning("failure of %s not stored: %s", task_id, exc)
        return letter is not None

    # -- liveness and the sweep --------------------------------------------------------------------
    def _beat(self) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.set(alive_key(self.queue, self.id), self.hostname, px=int(ALIVE_TTL_S * 1000))
        pipe.hset(consumers_key(self.queue), self.id, self.threads)
        pipe.execute()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self._beat()
                self.sweep_dead()
            except Exception as exc:  # never stop beating: others would take this worker for dead
                log.warning("direct consumer %s heartbeat or sweep failed: %s", self.id, exc)

    def sweep_dead(self) -> int:
        """Put back what dead consumers had taken; returns how many messages."""
        moved = 0
        for consumer, threads in self.client.hgetall(consumers_key(self.queue)).items():
            consumer = consumer.decode()
            if consumer == self.id or self.client.exists(alive_key(self.queue, consumer)):
                continue
            lock = sweeping_key(self.queue, consumer)
            if not self.client.set(lock, self.id, nx=True, px=SWEEP_LOCK_MS):
                continue  # another worker is sweeping it
            try:
                threads = int(threads)
                moved += self.sweep(consumer, threads, died=True)
                if not any(self.client.exists(taken_key(self.queue, consumer, i)) for i in range(threads)):
                    self.client.hdel(consumers_key(self.queue), consumer)
            finally:
                self.client.delete(lock)
        return moved

    def sweep(self, consumer: str, threads: int | None = None, *, died: bool = False) -> int:
        """Put back what `consumer` holds; returns how many messages. died: it is gone without finishing them,
        so each message's death count goes up, and one at MAX_DEATHS is dead-lettered instead."""
        moved = 0
        for i in range(self.threads if threads is None else threads):
            taken = taken_key(self.queue, consumer, i)
            while (raw := self.client.lindex(taken, -1)) is not None:
                if died and self._count_death(raw) >= MAX_DEATHS:
                    if not self._give_up(raw, consumer):
                        break  # not recorded: it stays taken, and the next sweep tries again
                    self.client.lrem(taken, -1, raw)
                elif self._put_back(taken, raw):
                    moved += 1
        if moved:
            log.warning("direct consumer %s put back %s message(s) taken by %s", self.id, moved, consumer)
        return moved

    def _count_death(self, raw: bytes) -> int:
        key = deaths_key(self.queue, raw)
        pipe = self.client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, DEATHS_TTL_S)
        return int(pipe.execute()[0])

    def _give_up(self, raw: bytes, consumer: str) -> bool:
        why = (f"{MAX_DEATHS} workers died while running this message (the last: {consumer}); it is not delivered "
               "again. Look for a crash or the OOM killer in the gpu workers' logs")
        log.error("direct consumer %s: message on %s dead-lettered: %s", self.id, self.queue, why)
        return self._dead_letter(raw, "worker_died", why)

    def _put_back(self, taken: str, raw: bytes | None = None) -> bool:
        """Move the oldest message of a taken list (`raw`, when the caller has read it) to the front of its
        priority's list (to be served next)."""
        raw = self.client.lindex(taken, -1) if raw is None else raw
        if raw is None:
            return False
        try:
            target = queue_key(self.queue, int(json.loads(raw)["properties"].get("priority") or 0))
        except Exception:  # unreadable or out of range: priority 0
            target = self.queue
        return self.client.lmove(taken, target, "RIGHT", "RIGHT") is not None


class DirectConsumerStep(bootsteps.StartStopStep):
    """Celery consumer step: on a worker that consumes `gpu` with the direct consumer on (celeryconfig
    `aiworld_gpu_consumer`), kombu stops consuming `gpu` and a DirectConsumer takes its messages with as
    many threads as the worker's concurrency."""

    requires = ("celery.worker.consumer.tasks:Tasks",)
    QUEUE = "gpu"

    def __init__(self, c, **kwargs):
        self.direct: DirectConsumer | None = None
        super().__init__(c, **kwargs)

    def start(self, c):
        if c.app.conf.get("aiworld_gpu_consumer", "direct") != "direct":
            return
        queue = next((q for q in c.task_consumer.queues if q.name == self.QUEUE), None)
        if queue is None:
            return
        c.cancel_task_queue(self.QUEUE)  # kombu stops reading it, also after a broker reconnection
        c.aiworld_direct_queues = [dict(queue.as_dict(recurse=True))]
        if self.direct is None:
            self.direct = DirectConsumer(c.app, self.QUEUE, c.hostname, max(1, int(c.controller.concurrency or 1)))
            self.direct.start()

    def shutdown(self, c):
        if self.direct is not None:
            self.direct.stop()
            self.direct = None


@inspect_command()
def active_queues(state):
    """Celery's own command (which it replaces) lists kombu's queues; a queue the direct consumer takes is
    listed too, so that `celery inspect active_queues`, Flower and `manage.py doctor` show who consumes it."""
    consumer = state.consumer
    kombu_queues = [dict(queue.as_dict(recurse=True)) for queue in consumer.task_consumer.queues] \
        if consumer.task_consumer else []
    return kombu_queues + list(getattr(consumer, "aiworld_direct_queues", []))
