"""The one place where queues, routes, serializers, acknowledgement and time limits are declared.

Loaded by aiworld/celery.py (``app.config_from_object("celeryconfig")``). See docs/operations.md
for the reasoning and for DragonflyDB, and docs/protocol.md for what a map server sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from kombu import Exchange, Queue

from aiworld import env


@dataclass(frozen=True)
class QueueSpec:
    """Limits shared by every task routed to a queue (seconds)."""

    soft_time_limit: int
    time_limit: int
    purpose: str


# Monster decisions must come back within a couple of 100 ms ticks, NPC work within a player's
# patience; both stay well under the fast family's visibility timeout below, so a task is never
# redelivered while it still runs. Training is long and checkpoints.
QUEUES: dict[str, QueueSpec] = {
    "gpu": QueueSpec(soft_time_limit=4, time_limit=6, purpose="monster decisions (ONNX inference)"),
    "cpu": QueueSpec(soft_time_limit=12, time_limit=15, purpose="NPC dialogue, quests, economy; CPU inference"),
    "train": QueueSpec(
        soft_time_limit=env.get_int("AIWORLD_TRAIN_SOFT_LIMIT_S", 4 * 3600 - 300, minimum=60),
        time_limit=env.get_int("AIWORLD_TRAIN_HARD_LIMIT_S", 4 * 3600, minimum=60),
        purpose="training, export, fine-tuning",
    ),
}

# Task-name prefixes -> queue. Routing of map-server messages is the producer's job (it pushes to
# the queue key itself); these routes apply to everything sent through the Celery API.
ROUTES: dict[str, str] = {
    "aiworld.mobs.*": "gpu",
    "aiworld.npc.*": "cpu",
    "aiworld.world.*": "cpu",
    "aiworld.ops.*": "cpu",
    "aiworld.train.*": "train",
}


def queue_for_task(name: str) -> str:
    for pattern, queue in ROUTES.items():
        if name.startswith(pattern.rstrip("*")):
            return queue
    return task_default_queue


class _QueueTimeLimits:
    """Celery annotation: every task gets the soft/hard limits of the queue it is routed to."""

    def annotate(self, task):
        spec = QUEUES.get(queue_for_task(task.name))
        if spec is None:
            return None
        return {"soft_time_limit": spec.soft_time_limit, "time_limit": spec.time_limit}


# -- connections ---------------------------------------------------------------------------------
broker_url = env.broker_url()
result_backend = env.result_backend_url()
broker_connection_retry_on_startup = True

# -- serialization: JSON only (a C++ producer writes it, nothing executes pickles) --------------
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]
result_expires = 24 * 3600
timezone = "UTC"
enable_utc = True

# -- queues and routes -------------------------------------------------------------------------
task_default_queue = "cpu"
task_queues = tuple(Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES)
task_routes = {pattern: {"queue": queue, "routing_key": queue} for pattern, queue in ROUTES.items()}
task_annotations = (_QueueTimeLimits(),)

# -- acknowledgement ---------------------------------------------------------------------------
# Tasks opt in to late acknowledgement (aiworld.tasks.base.IdempotentTask): a task whose worker
# dies is run again, which is safe only for idempotent tasks. One message at a time per process so
# a dying worker strands as little as possible.
task_acks_late = False
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
# Measured (bench/roundtrip.py, docs/benchmarks.md): the STARTED state write and task events cost
# about a third of a small task's time on the worker. So STARTED is off (long train tasks turn it on
# for themselves), and task events are on only where Flower's task list is worth it: the cpu and
# train workers (`-E` in the Procfile). gpu decisions are counted in Prometheus instead; Flower is
# told not to switch events on everywhere (aiworld/flower.py). Worker heartbeats always flow.
task_track_started = False
worker_send_task_events = False
task_send_sent_event = True

# The gpu worker takes its queue's messages itself (aiworld/mobs/consumer.py): one Redis command per
# message instead of kombu's read, unacked copy and pool hand-off, the same tasks and the same wire format.
# "celery" consumes `gpu` through kombu like every other queue.
aiworld_gpu_consumer = env.get_choice("AIWORLD_GPU_CONSUMER", ("direct", "celery"), "direct")

# -- Redis-protocol transport ------------------------------------------------------------------
# Priorities: kombu keeps one list per step ("<queue>", "<queue>\x06\x163", "\x06\x166",
# "\x06\x169") and BRPOPs them in that order: on this transport 0 is served first, 9 last.
PRIORITY_STEPS = [0, 3, 6, 9]
PRIORITY_SEP = "\x06\x16"

# Fast family (gpu, cpu): every task ends within its queue's hard limit (<= 15 s), so a 20 s
# visibility timeout is above the longest task, and a 2 s restore sweep (throttle 1) returns a
# SIGKILLed worker's messages within 20 + 2 s of their delivery.
FAST_VISIBILITY_TIMEOUT = 20
assert FAST_VISIBILITY_TIMEOUT > max(QUEUES[q].time_limit for q in ("gpu", "cpu"))

_common_transport = {
    "priority_steps": PRIORITY_STEPS,
    "sep": PRIORITY_SEP,
    "unacked_restore_interval": 2,
    "unacked_restore_throttle": 1,
    "socket_timeout": 30,
    "socket_connect_timeout": 5,
    "health_check_interval": 10,
}
broker_transport_options = {
    **_common_transport,
    "visibility_timeout": FAST_VISIBILITY_TIMEOUT,
    "unacked_mutex_expire": 10,
}

# Train family: a training job runs for hours, so its deliveries live under their own unacked keys
# with a visibility timeout above the train hard limit; fast workers never sweep them (a short
# timeout there would run a training job twice). A train worker that dies loses its message for
# that long; the job resumes from its last checkpoint. A killed pool child (not the main process)
# is requeued at once through task_reject_on_worker_lost.
TRAIN_TRANSPORT_OPTIONS = {
    **_common_transport,
    "visibility_timeout": QUEUES["train"].time_limit + 600,
    "unacked_mutex_expire": 60,
    "unacked_key": "unacked_train",
    "unacked_index_key": "unacked_train_index",
    "unacked_mutex_key": "unacked_train_mutex",
}
result_backend_transport_options = {"socket_timeout": 30, "socket_connect_timeout": 5}

# -- beat --------------------------------------------------------------------------------------
beat_scheduler = "aiworld.beat:HeartbeatScheduler"
beat_max_loop_interval = 5
BEAT_HEARTBEAT_KEY = "aiworld:beat:heartbeat"
BEAT_HEARTBEAT_STALE_S = 30
