"""Personality helpers shared by the NPC agents: the 3x3 alignment and the voice an NPC speaks in.

Alignment (BRIEF §2): the lawful axis alone gives lawful (>= 0.5), chaotic (<= -0.5) or neutral;
the moral axis is the mean of altruism and honesty: good (>= 0.5), evil (<= -0.5) or neutral.
The centre cell is "true neutral"; the others read "<law> <moral>", e.g. "lawful good", "chaotic evil".
"""

from __future__ import annotations

from dataclasses import dataclass

CUT = 0.5


def alignment(altruism: float, lawful: float, honest: float) -> str:
    law = "lawful" if lawful >= CUT else "chaotic" if lawful <= -CUT else "neutral"
    moral_axis = (altruism + honest) / 2
    moral = "good" if moral_axis >= CUT else "evil" if moral_axis <= -CUT else "neutral"
    return "true neutral" if law == moral == "neutral" else f"{law} {moral}"


@dataclass(frozen=True)
class Voice:
    """How an NPC talks, derived from Big Five + alignment + mood (thresholds 0.6 / 0.4 on 0..1 traits)."""

    extravert: bool
    introvert: bool
    warm: bool        # agreeable
    curt: bool        # disagreeable
    nervous: bool     # neurotic, or afraid/suspicious right now
    curious: bool     # open
    law: str          # lawful / neutral / chaotic
    moral: str        # good / neutral / evil
    mood: str


def voice(personality: dict, alignment_text: str, mood: str) -> Voice:
    def trait(name: str) -> float:
        return float(personality.get(name, 0.5))

    words = alignment_text.split()
    law = words[0] if words and words[0] in ("lawful", "chaotic") else "neutral"
    moral = words[-1] if words and words[-1] in ("good", "evil") else "neutral"
    return Voice(
        extravert=trait("extraversion") >= 0.6, introvert=trait("extraversion") <= 0.4,
        warm=trait("agreeableness") >= 0.6, curt=trait("agreeableness") <= 0.4,
        nervous=trait("neuroticism") >= 0.7 or mood in ("afraid", "suspicious"),
        curious=trait("openness") >= 0.6, law=law, moral=moral, mood=mood,
    )


def npc_persona(npc) -> dict:  # noqa: ANN001 - an aiworld.models.NPC
    """The dialogue agent's `npc` input from an NPC row."""
    return {
        "name": npc.name, "job_class": npc.job_class, "map": npc.map,
        "personality": {t: getattr(npc, t) for t in ("openness", "conscientiousness", "extraversion",
                                                      "agreeableness", "neuroticism")},
        "alignment": alignment(npc.altruism, npc.lawful, npc.honest), "mood": npc.mood,
        "quirks": list(npc.quirks or []), "backstory": npc.backstory,
        "faction": npc.faction.name if npc.faction_id else "",
    }
