"""Health checks behind `python manage.py doctor`: one result per check, each with advice."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"


@dataclass
class Check:
    name: str
    status: str
    detail: str
    advice: str = ""


def check_database() -> Check:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return Check("database", FAIL, f"cannot use {connection.settings_dict.get('NAME')}: {_first_line(exc)}",
                     "start the farm with `make run`, or set DATABASE_URL to a reachable PostgreSQL")
    if pending:
        return Check("database", FAIL, f"PostgreSQL {version}: {len(pending)} migration(s) not applied",
                     "run `python manage.py migrate`")
    return Check("database", OK, f"PostgreSQL {version}, migrations applied")


def _ping(url: str) -> str:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    client.ping()
    return client.info("server").get("redis_version", "?")


def check_broker(url: str) -> Check:
    try:
        version = _ping(url)
    except Exception as exc:
        return Check("broker", FAIL, f"cannot reach {_redact(url)}: {_first_line(exc)}",
                     "start the farm with `make run`, or set BROKER_URL to a reachable Redis-protocol server")
    return Check("broker", OK, f"{_redact(url)} answers (server {version})")


def check_result_backend(url: str, broker: str) -> Check | None:
    if url == broker:
        return None
    try:
        _ping(url)
    except Exception as exc:
        return Check("results", FAIL, f"cannot reach {_redact(url)}: {_first_line(exc)}",
                     "set RESULT_BACKEND_URL to a reachable Redis-protocol server")
    return Check("results", OK, f"{_redact(url)} answers")


def check_workers(app, queues: list[str], round_trip_timeout: float = 10.0) -> list[Check]:
    """A live worker consumes each queue, and a probe task sent to it comes back."""
    inspector = app.control.inspect(timeout=2.0)
    active_queues = inspector.active_queues() or {}
    consumers: dict[str, list[str]] = {queue: [] for queue in queues}
    for worker, declared in active_queues.items():
        for queue in declared or []:
            consumers.setdefault(queue["name"], []).append(worker)
    busy = {worker: len(tasks) for worker, tasks in (inspector.active() or {}).items()}

    pending = {}
    for queue in queues:
        if consumers[queue]:
            pending[queue] = app.send_task("aiworld.ops.echo", args=[{"doctor": queue}], queue=queue,
                                           routing_key=queue)
    results = []
    deadline = time.monotonic() + round_trip_timeout
    for queue in queues:
        workers = consumers[queue]
        if not workers:
            results.append(Check(f"worker:{queue}", FAIL, f"no worker consumes '{queue}'",
                                 f"start it: `honcho start worker-{queue}` (Procfile), or `make run`"))
            continue
        started = time.monotonic()
        try:
            reply = pending[queue].get(timeout=max(0.1, deadline - time.monotonic()))
            took = (time.monotonic() - started) * 1000
            results.append(Check(f"worker:{queue}", OK,
                                 f"{', '.join(sorted(workers))} online; probe answered by {reply['worker']} "
                                 f"in {took:.0f} ms"))
        except Exception as exc:
            if all(busy.get(worker, 0) > 0 for worker in workers):
                results.append(Check(f"worker:{queue}", WARN, f"{', '.join(workers)} online but busy; probe queued",
                                     "long jobs are running; the probe runs after them"))
            else:
                results.append(Check(f"worker:{queue}", FAIL,
                                     f"{', '.join(workers)} online but the probe did not come back: {_first_line(exc)}",
                                     "look at that worker's log; restart it"))
        finally:
            pending[queue].forget()
    return results


def check_beat(broker_url: str) -> Check:
    import redis

    import celeryconfig

    try:
        client = redis.Redis.from_url(broker_url, socket_timeout=2, socket_connect_timeout=2)
        raw = client.get(celeryconfig.BEAT_HEARTBEAT_KEY)
    except Exception as exc:
        return Check("beat", SKIP, f"broker unreachable: {_first_line(exc)}")
    if raw is None:
        return Check("beat", FAIL, "no heartbeat from celery beat", "start it: `honcho start beat`, or `make run`")
    age = time.time() - float(raw)
    if age > celeryconfig.BEAT_HEARTBEAT_STALE_S:
        return Check("beat", FAIL, f"last heartbeat {age:.0f} s ago", "beat has stopped: restart `honcho start beat`")
    return Check("beat", OK, f"alive (heartbeat {age:.1f} s ago)")


def check_gpu() -> Check:
    """A GPU is optional: without one, decisions come from the CPU levels of the fallback."""
    try:
        import onnxruntime
    except ImportError:
        return Check("gpu", FAIL, "onnxruntime is not installed", "install requirements/base.txt (or gpu.txt)")
    providers = onnxruntime.get_available_providers()
    has_smi = shutil.which("nvidia-smi") is not None
    if "CUDAExecutionProvider" in providers:
        return Check("gpu", OK, f"onnxruntime {onnxruntime.__version__} providers: {', '.join(providers)}")
    if has_smi:
        return Check("gpu", WARN, "an NVIDIA GPU is present but this environment has the CPU onnxruntime",
                     "make install-gpu (a separate environment with onnxruntime-gpu for worker-gpu)")
    return Check("gpu", WARN, f"no GPU; onnxruntime {onnxruntime.__version__} on CPU",
                 "fine for CPU-only hosts: decisions use the CPU levels of the fallback")


def check_models() -> Check:
    """Active models in the registry, and whether their files are there."""
    from aiworld.mobs.state import ARCHETYPES
    from aiworld.services.registry import snapshot

    try:
        models = snapshot().models
    except Exception as exc:
        return Check("models", SKIP, f"registry unreadable: {_first_line(exc)}")
    if not models:
        return Check("models", WARN, "no active model in the registry",
                     "train and export them (`python manage.py train --all`, `export_onnx`); until then "
                     "monsters are answered by the rules (level 4)")
    missing = [str(spec.path) for spec in models if not spec.path.exists()]
    if missing:
        return Check("models", FAIL, f"{len(missing)} active model file(s) missing, e.g. {missing[0]}",
                     "restore the files or retire those versions in the admin (Model versions)")
    covered = sorted({spec.archetype for spec in models})
    without = [a for a in ARCHETYPES if a not in covered]
    detail = f"{len(models)} active model file(s) for {len(covered)} archetype(s)"
    if without:
        return Check("models", WARN, f"{detail}; none for {', '.join(without)}",
                     "those archetypes are answered by the rules (level 4)")
    return Check("models", OK, detail)


def run_checks(app, round_trip_timeout: float = 10.0) -> list[Check]:

    import celeryconfig

    checks = [check_database()]
    broker = check_broker(app.conf.broker_url)
    checks.append(broker)
    backend = check_result_backend(app.conf.result_backend, app.conf.broker_url)
    if backend:
        checks.append(backend)
    queues = list(celeryconfig.QUEUES)
    if broker.status == OK and (backend is None or backend.status == OK):
        checks.extend(check_workers(app, queues, round_trip_timeout))
        checks.append(check_beat(app.conf.broker_url))
    else:
        checks.extend(Check(f"worker:{queue}", SKIP, "broker unreachable") for queue in queues)
        checks.append(Check("beat", SKIP, "broker unreachable"))
    checks.append(check_gpu())
    checks.append(check_models())
    return checks


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _redact(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
