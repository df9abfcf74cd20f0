"""The direct consumer's delivery (aiworld/mobs/consumer.py) against the real Redis-protocol server, without a
worker: priority order, the taken list until the acknowledgement, the sweep of a dead consumer's messages, and
bad messages. The worker end to end: test_decide.py, test_decide_redelivery.py."""

from __future__ import annotations

import json
import uuid

import pytest

import aiworld.tasks  # noqa: F401 - registers the tasks the consumer looks up
from aiworld.celery import app
from aiworld.mobs import consumer as direct
from aiworld.protocol import reference_producer
from aiworld.protocol.envelope import build_message, encode, queue_key

pytestmark = pytest.mark.integration


@pytest.fixture
def queue(broker):
    name = f"direct-test-{uuid.uuid4().hex[:8]}"
    yield name
    for key in [*broker.scan_iter(f"aiworld:direct:{name}:*"), *(queue_key(name, p) for p in (0, 3, 6, 9))]:
        broker.delete(key)


def message(queue: str, priority: int, text: str) -> bytes:
    return encode(build_message("aiworld.ops.echo", [{"text": text}], {}, queue=queue, priority=priority))


def echo_text(raw: bytes) -> str:
    return json.loads(raw)["headers"]["argsrepr"]


def test_priorities_in_kombus_order_and_a_message_stays_taken_until_acknowledged(broker, queue):
    consumer = direct.DirectConsumer(app, queue, "gpu@test", threads=1)
    for priority, text in [(9, "p9"), (0, "p0-first"), (3, "p3"), (0, "p0-second"), (6, "p6")]:
        broker.lpush(queue_key(queue, priority), message(queue, priority, text))
    order = []
    taken = direct.taken_key(queue, consumer.id, 0)
    while (raw := consumer.take(0, block_s=0)) is not None:
        assert broker.lrange(taken, 0, -1) == [raw]  # held until acknowledged
        order.append(echo_text(raw))
        broker.delete(taken)  # what the acknowledgement does
    assert order == ["[{'text': 'p0-first'}]", "[{'text': 'p0-second'}]", "[{'text': 'p3'}]", "[{'text': 'p6'}]",
                     "[{'text': 'p9'}]"]
    assert consumer.take(0, block_s=0.05) is None  # waits on priority 0, then gives up


def test_a_dead_consumers_messages_go_back_to_the_front_of_their_priority_and_a_live_ones_stay(broker, queue):
    sweeper = direct.DirectConsumer(app, queue, "gpu@survivor", threads=1)
    dead, alive = "gpu@dead:1:aaaaaa", "gpu@alive:2:bbbbbb"
    broker.hset(direct.consumers_key(queue), mapping={dead: 2, alive: 1})
    broker.set(direct.alive_key(queue, alive), "gpu@alive", px=10_000)
    broker.lpush(direct.taken_key(queue, dead, 1), message(queue, 6, "lost"))
    broker.lpush(direct.taken_key(queue, alive, 0), message(queue, 0, "in hand"))
    broker.lpush(queue_key(queue, 6), message(queue, 6, "waiting"))

    assert sweeper.sweep_dead() == 1
    assert [echo_text(m) for m in broker.lrange(queue_key(queue, 6), 0, -1)] == ["[{'text': 'waiting'}]",
                                                                                 "[{'text': 'lost'}]"]
    assert echo_text(sweeper.take(0, block_s=0)) == "[{'text': 'lost'}]"  # served before what was waiting
    assert broker.llen(direct.taken_key(queue, alive, 0)) == 1
    assert not broker.hexists(direct.consumers_key(queue), dead)
    assert broker.hexists(direct.consumers_key(queue), alive)


def test_stopping_puts_back_what_was_not_finished_and_leaves_no_keys(broker, queue):
    consumer = direct.DirectConsumer(app, queue, "gpu@test", threads=1)
    consumer.start()
    consumer._stop.set()  # the thread exits; then a message is taken as if it were in hand
    consumer._workers[0].join(5)
    broker.lpush(queue, message(queue, 0, "in hand"))
    assert consumer.take(0, block_s=0) is not None
    consumer.stop()
    assert [echo_text(m) for m in broker.lrange(queue, 0, -1)] == ["[{'text': 'in hand'}]"]
    assert list(broker.scan_iter(f"aiworld:direct:{queue}:*")) == []


@pytest.mark.django_db(transaction=True)
def test_a_bad_message_is_dead_lettered_its_failure_stored_and_dropped_and_the_consumer_goes_on(broker, queue):
    from aiworld.models import DeadLetter

    consumer = direct.DirectConsumer(app, queue, "gpu@test", threads=1)
    good = json.loads(message(queue, 0, "unknown task"))
    good["headers"]["task"] = "aiworld.no_such_task"
    later = json.loads(message(queue, 0, "later"))
    later["headers"]["eta"] = "2099-01-01T00:00:00+00:00"
    for raw in (b"{not json", json.dumps({"headers": {}}).encode(), json.dumps(good).encode(),
                json.dumps(later).encode()):
        broker.lpush(queue, raw)
        taken = consumer.take(0, block_s=0)
        consumer.handle(taken, 0)
        assert broker.llen(direct.taken_key(queue, consumer.id, 0)) == 0
    letters = list(DeadLetter.objects.filter(queue=queue).order_by("id"))
    assert [letter.error_code for letter in letters] == ["bad_message"] * 4
    assert "JSONDecodeError" in letters[0].error_message
    assert "KeyError" in letters[1].error_message
    assert "aiworld.no_such_task" in letters[2].error_message and letters[2].task_id == good["headers"]["id"]
    assert "countdown" in letters[3].error_message and letters[3].task_name == "aiworld.ops.echo"
    # the caller reads why where it reads results
    stored = reference_producer.read_result(broker, good["headers"]["id"])
    assert stored["status"] == "FAILURE" and "aiworld.no_such_task" in str(stored["result"]["exc_message"])


def _die_holding(broker, queue: str, raw: bytes, death: int) -> None:
    """A consumer that took `raw` and died: listed, no liveness key, the message in its taken list."""
    dead = f"gpu@dead{death}:{death}:cccccc"
    broker.hset(direct.consumers_key(queue), dead, 1)
    broker.lpush(direct.taken_key(queue, dead, 0), raw)


@pytest.mark.django_db(transaction=True)
def test_a_message_whose_holders_keep_dying_is_dead_lettered_and_not_delivered_again(broker, queue):
    from aiworld.models import DeadLetter

    sweeper = direct.DirectConsumer(app, queue, "gpu@survivor", threads=1)
    poison = message(queue, 0, "kills its worker")
    for death in range(1, direct.MAX_DEATHS):
        _die_holding(broker, queue, poison, death)
        assert sweeper.sweep_dead() == 1
        assert broker.lrange(queue, 0, -1) == [poison]  # another worker gets another try
        broker.delete(queue)  # ... takes it, and dies too
    _die_holding(broker, queue, poison, direct.MAX_DEATHS)
    assert sweeper.sweep_dead() == 0
    assert broker.llen(queue) == 0
    assert list(broker.scan_iter(f"aiworld:direct:{queue}:taken:*")) == []
    assert broker.hlen(direct.consumers_key(queue)) == 0
    letter = DeadLetter.objects.get(queue=queue)
    task_id = json.loads(poison)["headers"]["id"]
    assert (letter.error_code, letter.task_id, letter.task_name) == ("worker_died", task_id, "aiworld.ops.echo")
    assert f"{direct.MAX_DEATHS} workers died" in letter.error_message
    stored = reference_producer.read_result(broker, task_id)
    assert stored["status"] == "FAILURE" and "workers died" in str(stored["result"]["exc_message"])


@pytest.mark.django_db(transaction=True)
def test_each_death_is_counted_once_and_nothing_is_dropped_unrecorded(broker, queue, monkeypatch):
    from aiworld.models import DeadLetter

    sweeper = direct.DirectConsumer(app, queue, "gpu@survivor", threads=1)
    poison = message(queue, 0, "kills its worker")
    _die_holding(broker, queue, poison, 1)
    # another worker is sweeping that consumer: this one leaves it alone (no second count of the same death)
    broker.set(direct.sweeping_key(queue, "gpu@dead1:1:cccccc"), "gpu@other", px=10_000)
    assert sweeper.sweep_dead() == 0
    assert broker.llen(direct.taken_key(queue, "gpu@dead1:1:cccccc", 0)) == 1
    assert broker.get(direct.deaths_key(queue, poison)) is None
    broker.delete(direct.sweeping_key(queue, "gpu@dead1:1:cccccc"))
    assert sweeper.sweep_dead() == 1
    assert broker.get(direct.deaths_key(queue, poison)) == b"1"
    assert broker.ttl(direct.deaths_key(queue, poison)) > 0
    broker.delete(queue)
    # at the limit, with the dead letter not recorded (database down): the message stays where it is
    broker.set(direct.deaths_key(queue, poison), direct.MAX_DEATHS - 1)
    _die_holding(broker, queue, poison, 2)
    monkeypatch.setattr(sweeper, "_dead_letter", lambda raw, code, why: False)
    assert sweeper.sweep_dead() == 0
    assert broker.lrange(direct.taken_key(queue, "gpu@dead2:2:cccccc", 0), 0, -1) == [poison]
    assert broker.hexists(direct.consumers_key(queue), "gpu@dead2:2:cccccc")
    assert not DeadLetter.objects.filter(queue=queue).exists()
    monkeypatch.undo()
    assert sweeper.sweep_dead() == 0  # the next sweep records it
    assert DeadLetter.objects.filter(queue=queue, error_code="worker_died").count() == 1
    assert list(broker.scan_iter(f"aiworld:direct:{queue}:taken:*")) == []


@pytest.mark.parametrize("raw_body", [True, False], ids=["json-text-body", "base64-body"])
def test_parse_decodes_the_body_as_kombu_does_nan_included(raw_body):
    # The consumer parses with orjson and falls back to the standard parser for what orjson refuses (NaN),
    # so that validation, not the transport, answers such a request.
    import base64

    import numpy as np

    from aiworld.mobs import client

    states = np.full((2, 64), 0.25, np.float32)
    payload = client.decide_payload(server="m", tick=7, reply_to="r", request_ids=[1, 2**64 - 1], mob_ids=[5, 6],
                                    class_ids=[1, 1], archetypes=["tank", "mage"], states=states, state_form="json")
    payload["monsters"][0]["state"][3] = float("nan")
    raw = client.decide_message(payload, raw_body=raw_body)
    request = direct.parse(raw, hostname="gpu@test", app=app, on_ack=lambda *a: None, on_reject=lambda *a: None)
    body = json.loads(raw)["body"]
    expected = json.loads(body if raw_body else base64.b64decode(body))  # the standard parser: NaN taken
    assert json.dumps([request.args, request.kwargs]) == json.dumps(expected[:2])
    assert request.args[0]["monsters"][1]["rid"] == 2**64 - 1
