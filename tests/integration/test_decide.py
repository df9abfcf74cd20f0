"""aiworld.mobs.decide end to end: a tick pushed with raw Redis commands from another process gets
its decisions back from a real gpu worker (threads pool, as in the Procfile)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from aiworld.mobs import client
from aiworld.mobs.state import ARCHETYPES, STATE_SIZE
from tests.support.models import install_models
from tests.support.processes import start_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def gpu_worker(worker_env, tmp_path):
    install_models(tmp_path / "models", ARCHETYPES[:3])  # aggressive, defensive, support have models
    (tmp_path / "prometheus").mkdir()
    env = {**worker_env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"), "AIWORLD_STATS_EVERY_S": "0.5"}
    worker = start_worker(tmp_path, "gpu", env, pool="threads", concurrency=4)
    worker.metrics_dir = tmp_path / "prometheus"
    yield worker
    worker.stop()


def tick_payload(n: int, reply_to: str, seed: int = 0, state_form: str = "f32", layout: str = "rows") -> dict:
    rng = np.random.default_rng(seed)
    states = rng.random((n, STATE_SIZE), dtype=np.float32)
    return client.decide_payload(server="map-1", tick=7, reply_to=reply_to, request_ids=range(1000, 1000 + n),
                                 mob_ids=range(n), class_ids=[1002] * n,
                                 archetypes=[ARCHETYPES[i % 6] for i in range(n)], states=states,
                                 state_form=state_form, layout=layout)


@pytest.mark.parametrize("form", client.FORMS)
def test_a_tick_gets_its_decisions_back(gpu_worker, broker, form):
    wire = client.FORMS[form]
    payload = tick_payload(60, "replies:map-1", state_form=wire.state_form, layout=wire.layout)
    broker.lpush(client.QUEUE, client.decide_message(payload, raw_body=wire.raw_body))
    reply = client.read_reply(broker, "replies:map-1", timeout=20)
    assert reply is not None, gpu_worker.log_tail(80)
    assert reply["tick"] == 7 and reply["errors"] == []
    decisions = {d["rid"]: d for d in reply["decisions"]}
    assert set(decisions) == set(range(1000, 1060))
    for i, rid in enumerate(range(1000, 1060)):
        d = decisions[rid]
        if ARCHETYPES[i % 6] in ARCHETYPES[:3]:
            assert d["level"] == 3 and 0 <= d["action"] <= 9 and 0 < d["conf"] <= 1
            assert d["model"] == "combat_dqn:1/int8"
        else:  # no model for this archetype: the rules answer
            assert d["level"] == 4 and d["conf"] is None and d["model"] == "rules"
    assert broker.ttl("replies:map-1") == -2 or broker.ttl("replies:map-1") <= 10
    # no INFO line per message on the gpu queue (Celery's "Task aiworld.mobs.decide[<id>] received")
    assert "aiworld.mobs.decide[" not in gpu_worker.log_tail(400)


def test_bad_requests_get_error_entries_the_rest_is_answered_and_the_message_is_dead_lettered(gpu_worker, broker):
    from aiworld.models import DeadLetter
    from tests.support.processes import wait_for

    payload = tick_payload(5, "replies:bad", state_form="json")
    payload["monsters"][0]["state"] = payload["monsters"][0]["state"][:63]
    payload["monsters"][1]["state"][2] = float("nan")
    payload["monsters"][2]["archetype"] = "dragon"
    client.push(broker, payload)
    reply = client.read_reply(broker, "replies:bad", timeout=20)
    assert {(e["rid"], e["code"]) for e in reply["errors"]} == {
        (1000, "bad_state_length"), (1001, "non_finite_state"), (1002, "unknown_archetype")}
    assert [d["rid"] for d in reply["decisions"]] == [1003, 1004]
    letter = wait_for(lambda: DeadLetter.objects.filter(task_name="aiworld.mobs.decide").first(), 10,
                      what="dead letter")
    assert letter.source == "map-1" and "bad_state_length" in letter.error_message
    # malformed base64 for the whole batch: every request gets the error, the worker lives on
    broken = tick_payload(3, "replies:bad")
    broken["states_b64"] = "!!!"
    client.push(broker, broken)
    reply = client.read_reply(broker, "replies:bad", timeout=20)
    assert reply["decisions"] == [] and {e["code"] for e in reply["errors"]} == {"bad_states_b64"}
    client.push(broker, tick_payload(3, "replies:bad"))
    assert len(client.read_reply(broker, "replies:bad", timeout=20)["decisions"]) == 3
    assert gpu_worker.alive()


def test_kombus_consumer_answers_the_same_messages(worker_env, broker, tmp_path):
    # AIWORLD_GPU_CONSUMER=celery: the gpu queue read through kombu like every other queue
    install_models(tmp_path / "models", ARCHETYPES[:1])
    worker = start_worker(tmp_path, "gpu", {**worker_env, "AIWORLD_GPU_CONSUMER": "celery"}, pool="threads",
                          concurrency=2)
    try:
        broker.lpush(client.QUEUE, client.decide_message(tick_payload(12, "replies:kombu")))
        reply = client.read_reply(broker, "replies:kombu", timeout=20)
        assert reply is not None, worker.log_tail(80)
        assert reply["worker"] == worker.name and len(reply["decisions"]) == 12
        assert {d["level"] for d in reply["decisions"]} == {3, 4}
        assert "direct consumer" not in worker.log_tail(400)  # the step logs it when it starts
    finally:
        worker.stop()


def test_a_batch_without_reply_key_leaves_its_error_in_the_result_backend(gpu_worker, broker):
    from aiworld.protocol import reference_producer
    from tests.support.processes import wait_for

    payload = tick_payload(2, "unused")
    del payload["reply_to"]
    message = json.loads(client.decide_message(payload))
    task_id = message["headers"]["id"]
    broker.lpush("gpu", json.dumps(message))
    document = wait_for(lambda: reference_producer.read_result(broker, task_id), 20, what="stored error")
    assert document["status"] == "FAILURE" and document["result"]["exc_type"] == "PayloadError"
    assert "bad_reply_to" in str(document["result"]["exc_message"])
    assert gpu_worker.alive()


def test_the_byte_exact_fast_form_example_in_docs_protocol_runs_as_written(gpu_worker, broker):
    from aiworld.env import PROJECT_ROOT
    from aiworld.protocol.envelope import problems

    text = (PROJECT_ROOT / "docs" / "protocol.md").read_text()
    example = text.split("<!-- example:decide-fast -->", 1)[1].split("```json\n", 1)[1].split("\n```", 1)[0]
    assert problems(example) == []
    broker.delete("aiworld:replies:example")
    broker.lpush("gpu", example.encode())
    reply = client.read_reply(broker, "aiworld:replies:example", timeout=20)
    assert reply is not None, gpu_worker.log_tail(80)
    assert reply["task_id"] == "7c9e6679-7425-40de-944b-e07fc1f90ae7" and reply["errors"] == []
    assert [(d["rid"], d["level"]) for d in reply["decisions"]] == [(1, 3), (2, 4)]  # mage has no model here


def test_a_decision_stores_no_result_even_when_the_header_asks_for_one(gpu_worker, broker):
    # the reply key is the result; storing one per tick costs three Redis round trips nobody reads
    message = json.loads(client.decide_message(tick_payload(4, "replies:meta")))
    assert message["headers"]["ignore_result"] is True  # what our producer and docs/protocol.md send
    message["headers"]["ignore_result"] = False  # what a map server copying the echo example sends
    task_id = message["headers"]["id"]
    broker.lpush("gpu", json.dumps(message))
    reply = client.read_reply(broker, "replies:meta", timeout=20)
    assert reply is not None and len(reply["decisions"]) == 4, gpu_worker.log_tail(80)
    # the reply is pushed inside the task: give the tracer time to (not) store its result
    time.sleep(0.5)
    assert broker.get(f"celery-task-meta-{task_id}") is None


def test_gm_forced_level_and_a_new_version_reach_the_running_worker(gpu_worker, broker, tmp_path):
    from aiworld.services import registry

    client.push(broker, tick_payload(6, "replies:gm"))
    assert client.read_reply(broker, "replies:gm", timeout=20)["decisions"][0]["model"] == "combat_dqn:1/int8"

    install_models(tmp_path / "v2", ("aggressive",), version=2)  # activates v2: the worker reloads
    registry.set_policy(forced_level=5)
    import time

    time.sleep(1.5)  # the worker checks the generation at most once a second
    client.push(broker, tick_payload(6, "replies:gm"))
    decisions = client.read_reply(broker, "replies:gm", timeout=20)["decisions"]
    assert {(d["level"], d["action"]) for d in decisions} == {(5, 255)}

    registry.set_policy(forced_level=None)
    time.sleep(1.5)
    client.push(broker, tick_payload(6, "replies:gm"))
    decisions = client.read_reply(broker, "replies:gm", timeout=20)["decisions"]
    assert decisions[0]["level"] == 3 and decisions[0]["model"] == "combat_dqn:2/int8"
    from aiworld.models import FallbackEvent

    assert FallbackEvent.objects.filter(to_level=5, reason__contains="forced by a GM").exists()


def test_check_message_command_explains_problems(tmp_path):
    import subprocess
    import sys

    from aiworld.env import PROJECT_ROOT

    good = tmp_path / "good.json"
    good.write_bytes(client.decide_message(tick_payload(3, "r")))
    bad_payload = tick_payload(2, "r", state_form="json")
    bad_payload["monsters"][1]["state"] = [0.5] * 10
    message = json.loads(client.decide_message(bad_payload))
    del message["properties"]["delivery_tag"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(message))
    run = [sys.executable, "manage.py", "check_message"]
    ok = subprocess.run(run + [str(good)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "message OK" in ok.stdout and "faster to send" in ok.stdout
    fast = tmp_path / "fast.json"
    fast.write_bytes(client.decide_message(tick_payload(3, "r", state_form="f16", layout="columns"), raw_body=True))
    ok = subprocess.run(run + [str(fast)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "3 valid request(s)" in ok.stdout and "faster to send" not in ok.stdout
    result = subprocess.run(run + [str(bad)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "delivery_tag" in result.stdout and "silently" in result.stdout
    message["properties"]["delivery_tag"] = "x"
    bad.write_text(json.dumps(message))
    result = subprocess.run(run + [str(bad)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "request 1001: bad_state_length" in result.stdout


def test_seed_metrics_and_recent_statistics_for_gms(gpu_worker, broker):
    import time

    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    from aiworld.models import InferenceStats
    from tests.support.processes import wait_for

    for tick in range(3):
        client.push(broker, tick_payload(12, "replies:metrics", seed=tick))
        assert client.read_reply(broker, "replies:metrics", timeout=20)
        time.sleep(0.3)
    stats = wait_for(lambda: InferenceStats.objects.filter(decisions__gt=0).first(), 15, what="inference stats row")
    assert stats.level == 3 and stats.latency_p99_ms >= stats.latency_p50_ms >= 0

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(gpu_worker.metrics_dir))
    text = generate_latest(registry).decode()
    for name in ("ml_inference_requests_total", "ml_inference_latency_seconds", "ml_batch_size",
                 "ml_fallback_level", "ml_ram_usage_bytes", "ml_cpu_usage_percent", "ml_models_loaded_total",
                 "ml_service_up"):
        assert name in text, name
    assert 'ml_inference_requests_total{archetype="aggressive",level="3"}' in text
    assert 'ml_inference_requests_total{archetype="tank",level="4"}' in text  # no tank model: the rules
    assert "ml_fallback_level 3.0" in text
