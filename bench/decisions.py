"""Monster decisions end to end at fallback level 3 (CPU INT8): LPUSH of a tick -> reply readable.

    python -m aiworld.launcher exec --fresh -- python bench/decisions.py [--duration 10] [--monsters 500]
    python -m aiworld.launcher exec --fresh -- python bench/decisions.py --quick     # a check, ~2 min
    python -m aiworld.launcher exec --fresh -- python bench/decisions.py --models small,shipped --forms fast
    python -m aiworld.launcher exec --fresh -- python bench/decisions.py --models shipped --forms fast --ort-threads 1,2
    python -m aiworld.launcher exec --fresh -- python bench/decisions.py --models shipped,teachers --forms fast
    python -m aiworld.launcher exec --fresh -- python bench/decisions.py --models shipped --forms fast \
        --consumers direct,celery
    python -m aiworld.launcher exec --fresh -- python bench/decisions.py --models shipped --forms fast \
        --passes 1,2,1,2
    python -m aiworld.launcher exec --fresh -- python bench/decisions.py --models shipped --forms fast \
        --revisions bf40260,.,bf40260,.

Against one real gpu worker subprocess (threads pool, 2 threads, as the Procfile runs it), with the GM's
forced level set to 3 (--level) so that a GPU host measures the same path, serving each model set of --models in turn
each onnxruntime intra-op thread count of --ort-threads (AIWORLD_ORT_THREADS), each way of taking the
messages of --consumers (AIWORLD_GPU_CONSUMER: direct, aiworld/mobs/consumer.py, or celery, kombu's) and each
count of engine passes at once of --passes (AIWORLD_ENGINE_PASSES) and each code revision of --revisions (".": this
checkout; a git revision: its tree, extracted with `git archive`, runs the worker, against the same broker,
database, models and producers), a fresh worker each:
- small: INT8 64-64-64-10 MLPs, untrained, for all six archetypes (tests/support/models.install_models);
- shipped: the trained fused networks of models/shipped as a fresh install loads them (INT8 where it passed
  its parity check, else FP32: what level 3 serves);
- teachers: the same install with each shipped distilled network's teacher (models/shipped/<a>/teacher/)
  activated instead.

- Each wire form of docs/protocol.md §5 named in --forms (default: fast, then compact), against the
  same worker, one after the other.
- Offered loads of 1,000, 10,000, 50,000 and 100,000 decisions/s: map servers x monsters per message x 10
  ticks/s, one message per map per 100 ms tick, sent on the clock whether or not the previous reply
  is back (as a map server does; an overloaded worker shows as latency, never as a lower offered
  rate), with at most --max-in-flight messages outstanding per map.
- Saturation: messages pushed as fast as replies come back, with a bounded window of messages in
  flight (--saturation-window, spread over two producers).
- In the same run: raw onnxruntime throughput of the same INT8 models in one process (one run per
  archetype per message, the batch sizes of the messages), and the ratio end to end / raw.
- The worker's RSS before and after its first message of each archetype (memory per loaded
  archetype).

Producers use raw Redis commands with pre-encoded messages (a fresh task id and delivery tag each)
and count the reply's decisions without parsing it, so that they cost little of the shared cores.
Latency is per message, from just before its LPUSH to its reply being read (matched by task id).
Loopback only (the launcher's embedded Valkey); bounded in time; stops by itself.
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import os
import platform
import shlex
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import psutil
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiworld.settings")
import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from aiworld.mobs import client  # noqa: E402
from aiworld.mobs.engine import PRECISIONS_FOR_LEVEL  # noqa: E402
from aiworld.mobs.simulation import MapSimulation  # noqa: E402
from aiworld.mobs.state import ARCHETYPES  # noqa: E402
from aiworld.services import registry  # noqa: E402
from tests.support.models import install_models  # noqa: E402
from tests.support.processes import start_worker, subprocess_env  # noqa: E402

TICKS_PER_S = 10
LOADS = (1_000, 10_000, 50_000, 100_000)
TASK_PLACEHOLDER = "00000000-0000-4000-8000-00000000beef"
TAG_PLACEHOLDER = "00000000-0000-4000-8000-00000000cafe"
# L2 off: the producers resend one pre-encoded tick, so every state would hit the cache; this measures the
# inference path (bench/caches.py measures the caches)
WORKER_ENV = {"LOG_LEVEL": "WARNING", "AIWORLD_L2_CACHE": "off"}
REPLY_WAIT_S = 5.0  # a message without its reply this long after the load ended counts as missing


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


class Producer(threading.Thread):
    """One map server: a pre-encoded tick of `monsters` simulated monsters, re-sent with a fresh task
    id and delivery tag. Paced (interval_s): one message per interval, at most `window` in flight.
    Saturating (interval_s None): `window` messages in flight, the next one pushed as a reply comes."""

    def __init__(self, index: int, url: str, monsters: int, interval_s: float | None, window: int,
                 stop: threading.Event, form: client.WireForm):
        super().__init__(daemon=True, name=f"producer-{index}")
        self.client = redis.Redis.from_url(url, socket_timeout=10)
        self.reply_to = f"bench:replies:{index}:{uuid.uuid4().hex[:6]}"
        sim = MapSimulation(monsters, seed=index)
        actions = np.full(monsters, 255)
        for _ in range(20):  # some history: HP lost, targets, cooldowns
            sim.step(actions)
        payload = client.decide_payload(server=f"bench{index}", tick=1, reply_to=self.reply_to,
                                        request_ids=range(monsters), mob_ids=sim.mob_ids, class_ids=sim.class_ids,
                                        archetypes=sim.archetypes, states=sim.states(), packs=sim.packs,
                                        state_form=form.state_form, layout=form.layout)
        message = client.decide_message(payload, task_id=TASK_PLACEHOLDER, raw_body=form.raw_body).decode()
        tag = message.split('"delivery_tag":"')[1].split('"')[0]
        self.template = message.replace(tag, TAG_PLACEHOLDER)
        self.interval_s = interval_s
        self.window = window
        self.stop = stop
        self.sent: dict[str, float] = {}  # task id -> perf_counter before its LPUSH, until its reply
        self.measuring = False
        self.counted_sent = 0
        self.latencies: list[float] = []
        self.decisions = 0
        self.errors = 0
        self.levels = np.zeros(6, np.int64)
        self.skipped = 0
        self.counted_ids: set[str] = set()

    def _push(self) -> None:
        task_id = str(uuid.uuid4())
        message = self.template.replace(TASK_PLACEHOLDER, task_id).replace(TAG_PLACEHOLDER, str(uuid.uuid4()))
        self.sent[task_id] = time.perf_counter()
        if self.measuring:
            self.counted_sent += 1
            self.counted_ids.add(task_id)
        self.client.lpush(client.QUEUE, message)

    def _read(self, wait_s: float) -> None:
        if wait_s >= 0.001:
            item = self.client.brpop([self.reply_to], timeout=min(wait_s, 1.0))
            raw = item[1] if item else None
        else:
            raw = self.client.rpop(self.reply_to)
        if raw is None:
            return
        read_at = time.perf_counter()
        start = raw.find(b'"task_id":"') + 11
        task_id = raw[start:start + 36].decode()
        sent_at = self.sent.pop(task_id, None)
        if sent_at is None:
            return
        if self.measuring:  # throughput: the decisions read during the measured seconds
            self.decisions += raw.count(b'"action":')
        if task_id in self.counted_ids:  # latency, errors, levels: the messages sent during them
            self.latencies.append((read_at - sent_at) * 1000)
            if b'"errors":[]' not in raw:
                self.errors += raw.count(b'"code":')
            for level in range(1, 6):
                self.levels[level] += raw.count(b'"level":%d' % level)

    def run(self) -> None:
        next_at = time.monotonic()
        while not self.stop.is_set():
            if self.interval_s is None:
                while len(self.sent) < self.window:
                    self._push()
                self._read(1.0)
                continue
            now = time.monotonic()
            if now >= next_at:
                if len(self.sent) < self.window:
                    self._push()
                else:
                    self.skipped += 1  # the worker is that far behind: count the tick as not sent
                next_at += self.interval_s
                if time.monotonic() - next_at > self.interval_s:  # the producer itself fell behind
                    behind = int((time.monotonic() - next_at) / self.interval_s)
                    self.skipped += behind
                    next_at += behind * self.interval_s
            self._read(next_at - time.monotonic())

    def drain(self, deadline: float) -> None:
        """After stop: read the replies of the measured messages until the deadline (their latencies
        count: they came late, not never); what is still outstanding then is missing."""
        self.sent = {k: v for k, v in self.sent.items() if k in self.counted_ids}
        while self.sent and time.monotonic() < deadline:
            self._read(deadline - time.monotonic())


def run_load(url: str, servers: int, monsters: int, interval_s: float | None, window: int, duration: float,
             warmup: float, form: client.WireForm, worker_pid: int | None = None) -> dict:
    stop = threading.Event()
    producers = [Producer(i, url, monsters, interval_s, window, stop, form) for i in range(servers)]
    for p in producers:
        p.start()
    time.sleep(warmup)  # not counted: connections, the worker's thread pool, caches
    worker = psutil.Process(worker_pid) if worker_pid else None
    for p in producers:
        p.measuring = True
    started = time.monotonic()
    cpu_before = sum(worker.cpu_times()[:2]) if worker else 0.0
    time.sleep(duration)
    elapsed = time.monotonic() - started
    worker_cores = (sum(worker.cpu_times()[:2]) - cpu_before) / elapsed if worker else float("nan")
    for p in producers:
        p.measuring = False
    stop.set()
    decisions_in_window = sum(p.decisions for p in producers)
    for p in producers:
        p.join(10)
    deadline = time.monotonic() + REPLY_WAIT_S
    for p in producers:  # the measured messages whose replies are still on their way
        p.drain(deadline)
    latencies = [v for p in producers for v in p.latencies]
    levels = sum(p.levels for p in producers)
    missing = sum(len(p.sent) for p in producers)
    conn = producers[0].client
    for p in producers:
        conn.delete(p.reply_to)
    wait_until_idle(conn)
    return {"decisions_s": decisions_in_window / elapsed, "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99), "messages": sum(p.counted_sent for p in producers),
            "missing": missing, "errors": sum(p.errors for p in producers),
            "skipped": sum(p.skipped for p in producers), "worker_cores": worker_cores,
            "levels": {level: int(count) for level, count in enumerate(levels) if count}}


def wait_until_idle(conn: redis.Redis, timeout: float = 20.0) -> None:
    """Let the worker finish what is queued before the next load starts (bounded)."""
    deadline = time.monotonic() + timeout
    while conn.llen(client.QUEUE) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)


def level3_specs() -> list[registry.ModelSpec]:
    """The active files level 3 serves: per archetype and model, INT8 where registered, else FP32."""
    by_model: dict[tuple[str, str], list[registry.ModelSpec]] = {}
    for spec in registry.snapshot().models:
        by_model.setdefault((spec.archetype, spec.model_type), []).append(spec)
    return [next(s for p in PRECISIONS_FOR_LEVEL[3] for s in specs if s.precision == p) for specs in by_model.values()]


def raw_onnxruntime(monsters: int, seconds: float, threads: int = 1) -> float:
    """Decisions/s of the same models run directly in this process, as the engine runs them at level 3
    (CPU, `threads` intra-op threads): per message, one run per archetype on its share of the rows."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    sessions = [ort.InferenceSession(str(spec.path), sess_options=options, providers=["CPUExecutionProvider"])
                for spec in level3_specs()]
    rng = np.random.default_rng(0)
    share = [len(part) for part in np.array_split(np.arange(monsters), len(sessions))]
    inputs = [(s, s.get_inputs()[0].name,  # a history-input model gets [rows, 10, 64], a state model [rows, 64]
               rng.random((rows, *[d for d in s.get_inputs()[0].shape[1:]]), dtype=np.float32))
              for s, rows in zip(sessions, share, strict=True) if rows]
    for session, name, rows in inputs:
        session.run(None, {name: rows})
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for session, name, rows in inputs:
            session.run(None, {name: rows})
        count += monsters
    return count / (time.perf_counter() - started)


def memory_per_archetype(url: str, worker_pid: int) -> tuple[float, list[tuple[str, float]]]:
    """The worker's RSS before any model, then its growth as each archetype's models load (its first
    message of that archetype)."""
    conn = redis.Redis.from_url(url, socket_timeout=10)
    process = psutil.Process(worker_pid)
    reply_to = f"bench:mem:{uuid.uuid4().hex[:6]}"
    time.sleep(0.5)
    start = before = process.memory_info().rss
    out = []
    for archetype in ARCHETYPES:
        payload = client.decide_payload(server="mem", tick=1, reply_to=reply_to, request_ids=[1], mob_ids=[1],
                                        class_ids=[1], archetypes=[archetype],
                                        states=np.full((1, 64), 0.5, np.float32))
        client.push(conn, payload)
        if client.read_reply(conn, reply_to, timeout=30) is None:
            raise RuntimeError(f"no reply from the worker for {archetype}")
        time.sleep(0.3)
        after = process.memory_info().rss
        out.append((archetype, (after - before) / 2**20))
        before = after
    conn.delete(reply_to)
    return start / 2**20, out


MODEL_SETS = {"small": "INT8 64-64-64-10 MLPs, untrained",
              "shipped": "models/shipped (trained fused networks, INT8 where it passed parity, else FP32)",
              "teachers": "models/shipped with the versions the shipped distilled networks were distilled from "
                          "active instead (INT8 where it passed parity, else FP32)"}


def prepare(prefix: str, models: str = "small", level: int = 3) -> Path:
    """Migrate, register and activate a model set for every archetype (`small`: INT8 MLPs written to a fresh
    temporary folder, which is returned; `shipped`: models/shipped, as a fresh install loads them; `teachers`:
    the same with each distilled version's teacher active instead), and force a fallback level (3, CPU INT8,
    even where a GPU exists; 1 or 2 on a GPU host): the set-up every decisions benchmark shares."""
    from aiworld.models import ModelVersion
    from aiworld.services import shipped_models

    call_command("migrate", verbosity=0)
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    ModelVersion.objects.all().delete()  # one model set at a time
    registry.bump_generation()
    if models in ("shipped", "teachers"):
        shipped_models.install()
        for archetype in ARCHETYPES if models == "teachers" else ():
            teacher = (shipped_models.manifest(archetype) or {}).get("teacher")
            if teacher:
                registry.activate(archetype, "fused", int(teacher["version"]))
    else:
        install_models(tmp / "models", ARCHETYPES)
    registry.set_policy(forced_level=level)
    return tmp


def machine() -> str:
    import onnxruntime

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor() or platform.machine())
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = psutil.virtual_memory().total / 2**30
    server = redis.Redis.from_url(os.environ["BROKER_URL"]).info("server")
    broker = (f"Valkey {server['valkey_version']}" if "valkey_version" in server
              else f"Redis {server.get('redis_version', '?')}")
    return (f"{platform.machine()}, {os.cpu_count()} cores ({usable} usable) {cpu}, {memory:.0f} GiB; "
            f"Python {platform.python_version()}, onnxruntime {onnxruntime.__version__}, numpy {np.__version__}, "
            f"{broker} on loopback; load average before the run {os.getloadavg()[0]:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per load (default 10)")
    parser.add_argument("--monsters", type=int, default=500,
                        help="monsters per message at the offered loads (default 500; servers = load / monsters / 10)")
    parser.add_argument("--max-in-flight", type=int, default=20,
                        help="messages outstanding per map at the offered loads before ticks are skipped (2 s)")
    parser.add_argument("--saturation-monsters", type=int, default=2000, help="monsters per message at saturation")
    parser.add_argument("--saturation-window", type=int, default=8, help="messages in flight at saturation")
    parser.add_argument("--threads", type=int, default=2, help="gpu worker threads (the Procfile's GPU_THREADS)")
    parser.add_argument("--forms", default="fast,compact",
                        help=f"wire forms to measure, in order (of {', '.join(client.FORMS)}; default fast,compact)")
    parser.add_argument("--quick", action="store_true", help="3 s per load, short warm-ups: a check (~2 min)")
    parser.add_argument("--models", default="small",
                        help=f"model sets to serve, in order (of {', '.join(MODEL_SETS)}; default small)")
    parser.add_argument("--ort-threads", default="1",
                        help="onnxruntime intra-op thread counts to serve each model set with, in order "
                             "(AIWORLD_ORT_THREADS; default 1)")
    parser.add_argument("--consumers", default="direct",
                        help="how the gpu worker takes its messages, in order (AIWORLD_GPU_CONSUMER: direct, celery; "
                             "a fresh worker each; default direct)")
    parser.add_argument("--passes", default="2",
                        help="engine passes at once in the worker, in order (AIWORLD_ENGINE_PASSES; a fresh worker "
                             "each; default 2)")
    parser.add_argument("--revisions", default=".",
                        help="code the worker runs, in order: '.' this checkout, or a git revision (its tree; the "
                             "same database schema is assumed); a fresh worker each; default .")
    parser.add_argument("--level", type=int, choices=(1, 2, 3), default=3,
                        help="the fallback level forced (default 3, CPU INT8; 1 and 2 need a GPU host, and a level "
                             "that cannot run there hands over to the next: the levels column shows what answered; "
                             "the raw onnxruntime comparison stays on the CPU provider)")
    parser.add_argument("--loads", default=",".join(str(load) for load in LOADS),
                        help="offered loads in decisions/s, in order (default 1000,10000,50000,100000); "
                             "saturation is always measured")
    options = parser.parse_args()
    if not 1 <= options.monsters <= 4096 or not 1 <= options.saturation_monsters <= 4096:
        parser.error("monsters per message must be 1..4096")
    if not 0.5 <= options.duration <= 120 or not 1 <= options.saturation_window <= 64:
        parser.error("--duration must be 0.5..120 s and --saturation-window 1..64")
    forms = [name.strip() for name in options.forms.split(",") if name.strip()]
    if not forms or any(name not in client.FORMS for name in forms):
        parser.error(f"--forms takes names from {', '.join(client.FORMS)}")
    duration = 3.0 if options.quick else options.duration
    warmup = 1.0 if options.quick else 2.0
    url = os.environ["BROKER_URL"]
    if redis.Redis.from_url(url).connection_pool.connection_kwargs.get("host") not in ("127.0.0.1", "localhost",
                                                                                        "::1", None):
        parser.error("BROKER_URL must point at loopback: run through `python -m aiworld.launcher exec --fresh`")
    model_sets = [name.strip() for name in options.models.split(",") if name.strip()]
    if not model_sets or any(name not in MODEL_SETS for name in model_sets):
        parser.error(f"--models takes names from {', '.join(MODEL_SETS)}")
    try:
        threads = [int(n) for n in options.ort_threads.split(",") if n.strip()]
        options.loads = [int(n) for n in options.loads.split(",") if n.strip()]
        passes = [int(n) for n in options.passes.split(",") if n.strip()]
    except ValueError:
        parser.error("--ort-threads and --loads take comma-separated integers")
    if not threads or any(not 1 <= n <= 16 for n in threads):
        parser.error("--ort-threads takes counts from 1 to 16")
    if not passes or any(not 1 <= n <= 16 for n in passes):
        parser.error("--passes takes counts from 1 to 16")
    if any(not TICKS_PER_S <= load <= 1_000_000 for load in options.loads):
        parser.error(f"--loads takes decisions/s from {TICKS_PER_S} to 1,000,000")
    revisions = [name.strip() for name in options.revisions.split(",") if name.strip()] or ["."]
    trees = {revision: revision_tree(revision) for revision in dict.fromkeys(revisions) if revision != "."}
    for tree in trees.values():  # the extracted trees (models included) go when the benchmark ends
        atexit.register(shutil.rmtree, tree, ignore_errors=True)
    consumers = [name.strip() for name in options.consumers.split(",") if name.strip()]
    if not consumers or any(name not in ("direct", "celery") for name in consumers):
        parser.error("--consumers takes direct and/or celery")
    setup = machine()
    began = time.monotonic()
    measured = [measure(url, models, n, forms, options, duration, warmup, consumer, p, revision, trees.get(revision))
                for models in model_sets for n in threads for consumer in consumers for p in passes
                for revision in revisions]

    print(f"\ncommand: python -m aiworld.launcher exec --fresh -- python {shlex.join(sys.argv)}")
    print(f"machine: {setup}")
    print(f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; {duration:g} s measured per load after "
          f"{warmup:g} s warm-up; one gpu worker (threads pool, {options.threads} threads), "
          f"forced level {options.level}, 6 archetypes; producers, worker and the broker share the cores; "
          f"total wall time {time.monotonic() - began:.0f} s\n")
    for m in measured[::len(threads) * len(consumers) * len(passes) * len(revisions)]:
        print(f"models: {m['models']} ({MODEL_SETS[m['models']]}): "
              + ", ".join(f"{spec.archetype} {spec.model_type}:{spec.version}/{spec.precision}" for spec in m["specs"]))
    print("\n| revision | models | onnxruntime threads | consumer | passes | form | offered | achieved decisions/s | "
          "p50 ms | p99 ms | messages | missing replies | errors | skipped ticks | levels | worker cores |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for m in measured:
        for form, name, r in m["results"]:
            levels = " ".join(f"L{level}:{count}" for level, count in r["levels"].items()) or "-"
            print(f"| {m['revision']} | {m['models']} | {m['threads']} | {m['consumer']} | {m['passes']} | {form} | "
                  f"{name} | "
                  f"{r['decisions_s']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                  f"{r['messages']} | {r['missing']} | {r['errors']} | {r['skipped']} | {levels} | "
                  f"{r['worker_cores']:.2f} |")
    for m in measured:
        print(f"\nrevision {m['revision']}, {m['models']}, {m['threads']} intra-op thread(s), {m['consumer']} "
              f"consumer, {m['passes']} pass(es) at once: raw onnxruntime, same "
              "models, same threads, one "
              "process, one run per archetype "
              f"per message: {m['raw_saturation']:,.0f} decisions/s at {options.saturation_monsters} monsters per "
              f"message, {m['raw_offered']:,.0f} decisions/s at {options.monsters}")
        for form, name, r in m["results"]:
            if name.startswith("saturation"):
                print(f"end to end ({form}) / raw at saturation: {r['decisions_s']:,.0f} / {m['raw_saturation']:,.0f} "
                      f"= {r['decisions_s'] / m['raw_saturation']:.2%}")
        print(f"worker RSS before any model {m['base_rss']:.0f} MiB; growth as each archetype's models loaded (MiB): "
              + ", ".join(f"{a} {mib:+.1f}" for a, mib in m["memory"])
              + f" (the first includes onnxruntime's first session); worker RSS at the end {m['worker_rss']:.0f} MiB")
    return 0


def revision_tree(revision: str) -> Path:
    """A git revision's tree in a temporary folder (`git archive`), for a worker to run."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    commit = subprocess.run(["git", "rev-parse", "--short", revision], cwd=root, check=True, capture_output=True,
                            text=True).stdout.strip()
    folder = Path(tempfile.mkdtemp(prefix=f"bench-decisions-{commit}-"))
    archive = subprocess.run(["git", "archive", commit], cwd=root, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def measure(url: str, models: str, threads: int, forms: list[str], options: argparse.Namespace, duration: float,
            warmup: float, consumer: str = "direct", passes: int = 2, revision: str = ".",
            code: Path | None = None) -> dict:
    """Every load of every form against one fresh worker serving the model set with `threads` onnxruntime
    intra-op threads, taking its messages with `consumer` and running up to `passes` engine passes at once
    (the code of `revision`, in `code`, or this checkout), then raw onnxruntime with as many intra-op
    threads."""
    tmp = prepare("bench-decisions-", models, options.level)
    redis.Redis.from_url(url).delete(client.QUEUE)
    worker = start_worker(tmp, "gpu", subprocess_env(**WORKER_ENV, AIWORLD_ORT_THREADS=str(threads),
                                                             AIWORLD_GPU_CONSUMER=consumer,
                                                             AIWORLD_ENGINE_PASSES=str(passes)), pool="threads",
                          concurrency=options.threads, code=code)
    try:
        base_rss, memory = memory_per_archetype(url, worker.pid)
        results = []
        producers = 2 if options.saturation_window >= 2 else 1
        window = producers * max(1, options.saturation_window // producers)
        for form in forms:  # the forms one after the other against the same worker
            wire = client.FORMS[form]
            for load in options.loads:
                servers = max(1, round(load / (options.monsters * TICKS_PER_S)))
                monsters = min(options.monsters, load // (servers * TICKS_PER_S))
                result = run_load(url, servers, monsters, 1 / TICKS_PER_S, options.max_in_flight, duration, warmup,
                                  wire, worker.pid)
                results.append((form, f"{load:,}/s ({servers} map{'s' if servers > 1 else ''} x {monsters}, "
                                      "every 100 ms)", result))
            saturation = run_load(url, producers, options.saturation_monsters, None,
                                  max(1, options.saturation_window // producers), duration, warmup, wire, worker.pid)
            results.append((form, f"saturation ({options.saturation_monsters} monsters per message, {window} in "
                                  "flight)", saturation))
        worker_rss = psutil.Process(worker.pid).memory_info().rss / 2**20
    finally:
        worker.stop()
    raw_seconds = 2.0 if options.quick else 5.0
    return {"models": models, "threads": threads, "consumer": consumer, "passes": passes, "revision": revision,
            "specs": level3_specs(),
            "results": results,
            "base_rss": base_rss,
            "memory": memory, "worker_rss": worker_rss,
            "raw_saturation": raw_onnxruntime(options.saturation_monsters, raw_seconds, threads),
            "raw_offered": raw_onnxruntime(options.monsters, raw_seconds, threads)}


if __name__ == "__main__":
    sys.exit(main())
