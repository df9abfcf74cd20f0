"""bench/student_es.py: copies of an encounter see the same dice whatever their actions, the traditional copy
plays as trainers.evaluate.play_side plays the traditional pack, the numpy students are the torch ones, and the ES
step follows the fitter member."""

import numpy as np
import torch

from bench.student_es import Space, Weights, centred_ranks, generation, play_members, tiled
from trainers.arena import VecArena, load_scenario
from trainers.evaluate import TRADITIONAL, play_side
from trainers.networks import DistilledMLP


def _student(seed: int = 0) -> DistilledMLP:
    torch.manual_seed(seed)
    return DistilledMLP(hidden=16).eval()


def test_copies_of_an_encounter_share_state_and_dice():
    arena = tiled("crossroads", 3, 4, seed=5)
    assert arena.E == 12
    first = arena.observe()
    for c in range(1, 4):
        assert np.array_equal(first[:3], first[3 * c:3 * c + 3])
    arena.step(np.full((12, arena.M), TRADITIONAL, np.int16))
    blocks = arena._u.reshape(arena._u.shape[0], 4, 3, -1)
    assert all(np.array_equal(blocks[:, 0], blocks[:, c]) for c in range(1, 4))
    assert not np.array_equal(blocks[:, 0, 0], blocks[:, 0, 1])  # encounters differ from one another


def test_identical_members_score_alike_and_the_traditional_copy_is_play_sides_traditional_side():
    model = _student()
    w = Weights.of(model)
    scores, has = play_members([w, w], True, "tank", "crossroads", 4, seed=11)
    assert scores.shape == (3, 4) and has.all()
    assert np.array_equal(scores[0], scores[1])
    # the traditional copy: the whole pack on action 255 from the same start sees no other dice than its own
    alone = tiled("crossroads", 4, 1, seed=11)
    reference = play_side(alone, None, 4)
    assert np.allclose(scores[2], reference.score)
    # and the members' start is that of a plain arena of the same seed
    plain = VecArena(load_scenario("crossroads"), 4, seed=11, auto_reset=False)
    assert np.array_equal(plain.observe(), tiled("crossroads", 4, 3, seed=11).observe()[:4])


def test_numpy_students_are_the_torch_ones_and_move_only_the_chosen_weights():
    model = _student(1)
    x = np.random.default_rng(0).random((7, 10, 64), dtype=np.float32)
    w = Weights.of(model)
    assert np.allclose(w.logits(x), model(torch.from_numpy(x)).detach().numpy(), atol=1e-5)
    for params, size in (("bias", 11), ("head", 16 * 11 + 11)):
        space = Space(w, params)
        assert space.size == size
        moved = space.weights(np.ones(size))
        assert np.array_equal(moved.w[0], w.w[0]) and np.array_equal(moved.w[1], w.w[1])
        assert not np.array_equal(moved.b[-1], w.b[-1])
        back = moved.to_model(model)
        assert np.allclose(back(torch.from_numpy(x)).detach().numpy(), moved.logits(x), atol=1e-5)
    assert Space(w, "all").size == sum(p.numel() for p in model.parameters())


def test_centred_ranks_and_the_gradient_points_to_the_better_member():
    assert np.allclose(centred_ranks(np.array([3.0, -1.0, 10.0])), [0.0, -0.5, 0.5])
    model = _student(2)
    space = Space(Weights.of(model), "bias")
    noise = np.zeros((1, 11))
    noise[0, 2] = 1.0  # move "closer" up (+) or down (−)
    result = generation(space, np.zeros(11), noise, 5.0, "tank", ["crossroads"], 6, seed=3)
    plus, minus = result["members_fitness"]
    assert plus != minus  # 0.5 logit on one output changes how the tank plays
    assert np.sign(result["gradient"][2]) == np.sign(plus - minus)  # the step follows the fitter member
    assert result["encounters"] == 6
    assert np.count_nonzero(result["gradient"]) == 1


def test_plot_draws_the_runs_with_their_held_out_result(tmp_path):
    import json

    from bench.student_es import plot

    log = tmp_path / "tank_all.jsonl"
    rows = [{"generation": 0, "eval": {"win_rate": 0.68}}, {"generation": 1, "centre_win_rate": 0.7},
            {"generation": 2, "centre_win_rate": 0.72}, {"generation": 2, "eval": {"win_rate": 0.71}}]
    log.write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "tank_all_summary.json").write_text(json.dumps({"heldout_kept": {"win_rate": 0.74}}))
    png = tmp_path / "out" / "es.png"
    plot(png, [log])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
