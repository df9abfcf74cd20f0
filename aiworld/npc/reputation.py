"""Reputation tiers (thresholds of the system we replace, ../shared/BRIEF.md §2)."""

from __future__ import annotations

# (lower bound, tier): hated < -500 <= hostile < -100 <= unfriendly < 0 <= neutral < 100 <= friendly
# < 500 <= honored < 1000 <= revered < 2000 <= exalted
TIERS: tuple[tuple[float, str], ...] = (
    (2000, "exalted"), (1000, "revered"), (500, "honored"), (100, "friendly"), (0, "neutral"),
    (-100, "unfriendly"), (-500, "hostile"), (float("-inf"), "hated"),
)


def tier(points: int) -> str:
    for bound, name in TIERS:
        if points >= bound:
            return name
    return "hated"
