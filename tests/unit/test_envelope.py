"""The hand-built protocol v2 envelope and its validator (docs/protocol.md)."""

import base64
import json

import pytest

import celeryconfig
from aiworld.protocol.envelope import (
    PRIORITY_SEP,
    PRIORITY_STEPS,
    build_message,
    decode_body,
    encode,
    problems,
    queue_key,
)


def test_constants_match_celeryconfig():
    assert list(PRIORITY_STEPS) == celeryconfig.PRIORITY_STEPS
    assert PRIORITY_SEP == celeryconfig.PRIORITY_SEP


@pytest.mark.parametrize(("priority", "key"), [(0, "gpu"), (2, "gpu"), (3, "gpu\x06\x163"), (5, "gpu\x06\x163"),
                                               (6, "gpu\x06\x166"), (9, "gpu\x06\x169")])
def test_queue_key_per_priority(priority, key):
    assert queue_key("gpu", priority) == key


def test_priority_out_of_range():
    with pytest.raises(ValueError):
        queue_key("gpu", 10)


def test_built_message_is_valid_and_carries_every_argument():
    message = build_message("aiworld.ops.echo", [{"a": 1}], {"b": 2}, queue="cpu", time_limit=(6, 4))
    assert problems(message) == []
    assert problems(encode(message)) == []
    args, kwargs, embed = json.loads(base64.b64decode(message["body"]))
    assert args == [{"a": 1}] and kwargs == {"b": 2} and embed["chain"] is None
    assert message["headers"]["timelimit"] == [6, 4]
    assert message["properties"]["delivery_info"] == {"exchange": "", "routing_key": "cpu"}
    assert message["headers"]["id"] == message["properties"]["correlation_id"]


def test_a_body_without_body_encoding_is_the_json_text_itself():
    message = build_message("aiworld.ops.echo", [{"a": "quoted \"text\""}], {}, queue="cpu", body_encoding=None)
    assert "body_encoding" not in message["properties"] and message["body"].startswith('[[{"a"')
    assert problems(encode(message)) == []
    assert decode_body(json.loads(encode(message)))[0] == [{"a": 'quoted "text"'}]
    message["body"] = base64.b64encode(message["body"].encode()).decode()  # base64 without saying so
    assert any("JSON text" in problem for problem in problems(message))
    message["properties"]["body_encoding"] = "gzip"
    assert any("body_encoding" in problem for problem in problems(message))


def test_missing_delivery_tag_is_named_as_the_silent_loss_pitfall():
    message = build_message("aiworld.ops.echo", [{}], {}, queue="cpu")
    del message["properties"]["delivery_tag"]
    [problem] = problems(message)
    assert "delivery_tag" in problem and "silently" in problem


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda m: m["headers"].pop("task"), "headers.task"),
        (lambda m: m["properties"]["delivery_info"].pop("routing_key"), "routing_key"),
        (lambda m: m.update(body="%%%"), "base64"),
        (lambda m: m.update(body=base64.b64encode(b'{"x": 1}').decode()), "[args"),
        (lambda m: m.update({"content-type": "application/x-python-serialize"}), "JSON only"),
        (lambda m: m["properties"].update(priority=12), "priority"),
        (lambda m: m["headers"].update(timelimit=5), "timelimit"),
    ],
)
def test_problems_are_explained(mutate, fragment):
    message = build_message("aiworld.ops.echo", [{}], {}, queue="cpu")
    mutate(message)
    assert any(fragment in problem for problem in problems(message))


def test_properties_that_are_not_an_object_are_a_problem_not_a_crash():
    message = build_message("aiworld.ops.echo", [{}], {}, queue="cpu")
    message["properties"] = "oops"
    assert any("properties missing" in problem for problem in problems(message))


def test_not_json():
    assert problems(b"{nope")[0].startswith("not JSON")
