"""Decide payloads: every bad input becomes an error entry for that request; the rest is served."""

import base64

import numpy as np
import pytest

from aiworld.mobs import client
from aiworld.mobs.payload import MAX_BATCH, decode
from aiworld.mobs.state import ARCHETYPES, LAYOUT, STATE_SIZE
from aiworld.tasks.base import PayloadError


def payload(n=4, state_form="f32", layout="rows", states=None, **overrides):
    states = np.full((n, STATE_SIZE), 0.5, np.float32) if states is None else states
    body = client.decide_payload(server="m1", tick=3, reply_to="r", request_ids=range(10, 10 + n), mob_ids=range(n),
                                 class_ids=[1002] * n, archetypes=[ARCHETYPES[i % 6] for i in range(n)],
                                 states=states, state_form=state_form, layout=layout)
    body.update(overrides)
    return body


def codes(batch):
    return {(e.rid, e.code) for e in batch.errors}


@pytest.mark.parametrize("layout", client.LAYOUTS)
@pytest.mark.parametrize("state_form", client.STATE_FORMS)
def test_valid_batch_in_every_form(state_form, layout):
    states = np.random.default_rng(0).random((4, STATE_SIZE), dtype=np.float32)
    batch = decode(payload(state_form=state_form, layout=layout, states=states))
    assert len(batch) == 4 and batch.errors == []
    assert batch.request_ids.tolist() == [10, 11, 12, 13] and batch.mob_ids.tolist() == [0, 1, 2, 3]
    assert batch.archetype_ids.tolist() == [0, 1, 2, 3] and batch.class_ids.tolist() == [1002] * 4
    # float16 keeps 11 significant bits: within 2.5e-4 on [0, 1]
    assert np.allclose(batch.states, states, rtol=0, atol=2.5e-4 if state_form == "f16" else 0)


def test_the_two_layouts_decode_to_the_same_batch():
    kwargs = dict(server="m", tick=1, reply_to="r", request_ids=[5, 6, 7], mob_ids=[1, 2, 3], class_ids=[9, 9, 9],
                  archetypes=["mage", "tank", "mage"], states=np.full((3, 64), 0.25, np.float32),
                  packs=[4, None, 0], difficulty=[1.0, 0.5, 0.0])
    rows = decode(client.decide_payload(**kwargs, layout="rows"))
    columns = decode(client.decide_payload(**kwargs, layout="columns"))
    for name in ("request_ids", "mob_ids", "class_ids", "archetype_ids", "states", "pack_ids", "difficulty"):
        assert np.array_equal(getattr(rows, name), getattr(columns, name)), name
    assert columns.pack_ids.tolist() == [4, -1, 0]  # pack 0 is a pack, null is none


def test_bad_values_in_columns_are_rejected_one_by_one():
    body = payload(n=6, layout="columns")
    columns = body["columns"]
    columns["rid"][0] = -3
    columns["archetype"][1] = "dragon"
    columns["archetype"][2] = ["not", "hashable"]
    columns["class"][3] = "x"
    columns["difficulty"] = [1, 1, 1, 1, 1.5, 0.5]
    batch = decode(body)
    assert codes(batch) == {(None, "bad_request_id"), (11, "unknown_archetype"), (12, "unknown_archetype"),
                            (13, "bad_request"), (14, "bad_difficulty")}
    assert batch.request_ids.tolist() == [15] and batch.difficulty.tolist() == [0.5]


@pytest.mark.parametrize(("columns", "fragment"), [
    ({"rid": [1, 2], "mob": [1]}, "columns.mob must be an array of 2"),
    ({"rid": [1], "hp": [3]}, "unknown field(s) hp"),
    ({"mob": [1]}, "rid"),
    ([1, 2], "rid"),
])
def test_malformed_columns_answer_every_request_with_bad_monsters(columns, fragment):
    body = payload(n=1, layout="columns")
    body["columns"] = columns
    batch = decode(body)
    assert len(batch) == 0 and {e.code for e in batch.errors} == {"bad_monsters"}
    assert fragment in batch.errors[0].message


def test_a_batch_sends_exactly_one_layout_and_one_state_block():
    both = payload(n=2, layout="columns")
    both["monsters"] = [{"rid": 1}]
    assert {e.code for e in decode(both).errors} == {"bad_monsters"}
    two_blocks = payload(n=2, state_form="f16")
    two_blocks["states_b64"] = payload(n=2)["states_b64"]
    assert {e.code for e in decode(two_blocks).errors} == {"bad_states_b64"}


def test_half_precision_states_are_checked_like_the_others():
    raw = np.full((2, 64), 0.5, "<f2")
    raw[1, 3] = np.inf
    body = payload(n=2, state_form="f16")
    body["states_f16_b64"] = base64.b64encode(raw.tobytes()).decode()
    batch = decode(body)
    assert codes(batch) == {(11, "non_finite_state")} and batch.request_ids.tolist() == [10]
    body["states_f16_b64"] = base64.b64encode(raw.astype("<f4").tobytes()).decode()  # float32 under the f16 key
    assert {e.code for e in decode(body).errors} == {"bad_states_b64"}


def test_compact_states_are_little_endian_float32():
    body = payload(n=1)
    raw = np.arange(64, dtype="<f4") / 64
    body["states_b64"] = base64.b64encode(raw.tobytes()).decode()
    assert np.allclose(decode(body).states[0], raw)


def test_bad_requests_are_rejected_one_by_one():
    body = payload(n=6, state_form="json")
    monsters = body["monsters"]
    monsters[0]["state"] = monsters[0]["state"][:63]
    monsters[1]["state"][5] = float("nan")
    monsters[2]["state"][7] = 1.5
    monsters[3]["archetype"] = "dragon"
    monsters[4]["difficulty"] = 2
    batch = decode(body)
    assert codes(batch) == {(10, "bad_state_length"), (11, "non_finite_state"), (12, "state_out_of_range"),
                            (13, "unknown_archetype"), (14, "bad_difficulty")}
    assert batch.request_ids.tolist() == [15]


def test_infinity_in_compact_states():
    body = payload(n=2)
    raw = np.full((2, 64), 0.5, "<f4")
    raw[1, 3] = np.inf
    body["states_b64"] = base64.b64encode(raw.tobytes()).decode()
    batch = decode(body)
    assert codes(batch) == {(11, "non_finite_state")} and batch.request_ids.tolist() == [10]


@pytest.mark.parametrize(("field", "value", "code"), [
    ("states_b64", "***", "bad_states_b64"),
    ("states_b64", base64.b64encode(b"\0" * 12).decode(), "bad_states_b64"),
    ("v", 99, "unsupported_version"),
    ("monsters", "nope", "bad_monsters"),
])
def test_message_level_problems_answer_every_request_with_an_error(field, value, code):
    batch = decode(payload(**{field: value}))
    assert len(batch) == 0 and batch.errors and all(e.code == code for e in batch.errors)


def test_oversized_batch_answers_the_first_max_batch():
    n = MAX_BATCH + 3
    batch = decode(payload(n=n))
    assert len(batch) == MAX_BATCH
    assert [e.code for e in batch.errors] == ["batch_too_large"] * 3


@pytest.mark.parametrize("bad", [[1, 2], "text", {"monsters": []}, {"reply_to": ""}])
def test_no_way_to_reply_is_a_payload_error(bad):
    with pytest.raises(PayloadError):
        decode(bad)


def test_request_ids_are_unsigned_64_bit():
    body = payload(n=2)
    body["monsters"][0]["rid"] = 2**64 - 1
    body["monsters"][1]["rid"] = -1
    batch = decode(body)
    assert batch.request_ids.tolist() == [2**64 - 1]
    assert codes(batch) == {(None, "bad_request_id")}


def test_layout_documents_every_index_in_its_group():
    groups = {"self": range(0, 12), "environment": range(12, 22), "social": range(22, 30),
              "tactical": range(30, 42), "temporal": range(42, 52), "goals": range(52, 64)}
    for index, name, group, meaning in LAYOUT:
        assert index in groups[group] and name and meaning
    names = {name: index for index, name, _, _ in LAYOUT}
    assert (names["hp_ratio"], names["sp_ratio"], names["enemy_count"], names["target_distance"],
            names["threat"]) == (0, 1, 30, 31, 32)  # the seed encoder's indices


def test_docs_state_table_is_the_code_table():
    from aiworld.env import PROJECT_ROOT
    from aiworld.mobs.state import layout_markdown

    text = (PROJECT_ROOT / "docs" / "protocol.md").read_text()
    documented = text.split("<!-- state-table -->\n", 1)[1].split("\n<!-- /state-table -->", 1)[0]
    assert documented == layout_markdown()
