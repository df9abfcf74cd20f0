"""The parts of the learning stack agree on their shared sizes: the arena's behaviour patterns fit the
pattern-recognition head, every archetype trains and is evaluated on scenarios holding it."""

from __future__ import annotations

from aiworld.mobs.state import ARCHETYPES
from trainers import networks, pipeline
from trainers.arena.adventurers import PATTERNS


def test_every_arena_pattern_has_a_class_in_the_pattern_head() -> None:
    head = networks.build("pattern_recognition").pattern_head
    assert head.out_features >= len(PATTERNS)


def test_every_archetype_has_train_and_heldout_scenarios() -> None:
    for archetype in ARCHETYPES:
        train = pipeline.scenarios_with(archetype, "train")
        heldout = pipeline.scenarios_with(archetype, "heldout")
        assert len(train) >= 2 and len(heldout) >= 2, archetype
        assert not set(train) & set(heldout)
