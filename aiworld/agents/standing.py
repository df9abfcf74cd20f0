"""Standing agents: reputation (a player's points with factions), karma (a player's moral score)
and faction (which factions are rivals)."""

from __future__ import annotations

from typing import Literal

from django.db.models import F
from pydantic import BaseModel, ConfigDict, Field

from aiworld.agents.base import Agent, Strict, Text, clamp
from aiworld.agents.events import create_event
from aiworld.models import Faction, PlayerCharacter, Reputation

TIERS = ((-500, "hated"), (-100, "hostile"), (0, "unfriendly"), (100, "neutral"), (500, "friendly"),
         (1000, "honored"), (2000, "revered"))


def tier(points: int) -> str:
    """BRIEF §2: hated < -500 <= hostile < -100 <= unfriendly < 0 <= neutral < 100 <= friendly < 500
    <= honored < 1000 <= revered < 2000 <= exalted."""
    for bound, name in TIERS:
        if points < bound:
            return name
    return "exalted"


# -- reputation -------------------------------------------------------------------------------------
Deed = Literal["quest_completed", "defended", "donated", "helped_member", "killed_member", "stole", "betrayed"]
DEED_POINTS = {"quest_completed": 50, "defended": 80, "donated": 20, "helped_member": 25, "killed_member": -150,
               "stole": -60, "betrayed": -300}


class ReputationInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    player_id: int = Field(ge=1)
    faction_id: int = Field(ge=1)
    deed: Deed
    magnitude: int = Field(1, ge=1, le=10)


class Spill(Strict):
    faction_id: int = Field(ge=1)
    delta: int = Field(ge=-1000, le=1000)


class ReputationOutput(Strict):
    points_delta: int = Field(ge=-1000, le=1000)
    reason: str = Text(200)
    spillover: list[Spill] = Field(default_factory=list, max_length=10)


def reputation_offline(inputs: ReputationInputs) -> ReputationOutput:
    faction = Faction.objects.get(pk=inputs.faction_id)
    delta = int(clamp(DEED_POINTS[inputs.deed] * inputs.magnitude, -1000, 1000))
    # what pleases a faction displeases its rivals, half as much
    spill = [Spill(faction_id=r.pk, delta=-delta // 2) for r in faction.rivals.order_by("pk")]
    return ReputationOutput(points_delta=delta, spillover=spill,
                            reason=f"{inputs.deed.replace('_', ' ')} (x{inputs.magnitude}) for {faction.name}")


def _add_points(player: PlayerCharacter, faction_id: int, delta: int) -> int:
    faction = Faction.objects.get(pk=faction_id)
    rep, _ = Reputation.objects.get_or_create(player=player, faction=faction)
    Reputation.objects.filter(pk=rep.pk).update(points=F("points") + delta)
    return Reputation.objects.values_list("points", flat=True).get(pk=rep.pk)


def reputation_apply(output: ReputationOutput, inputs: ReputationInputs) -> dict:
    player = PlayerCharacter.objects.get(pk=inputs.player_id)
    points = _add_points(player, inputs.faction_id, output.points_delta)
    others = {str(s.faction_id): _add_points(player, s.faction_id, s.delta) for s in output.spillover}
    return {"points": points, "tier": tier(points), "spillover": others}


# -- karma ------------------------------------------------------------------------------------------
Act = Literal["helped_player", "healed_stranger", "donated", "completed_quest", "returned_item", "pk_kill", "stole",
              "scammed", "griefed", "abandoned_party"]
ACT_KARMA = {"helped_player": 5, "healed_stranger": 3, "donated": 4, "completed_quest": 2, "returned_item": 8,
             "pk_kill": -20, "stole": -10, "scammed": -25, "griefed": -15, "abandoned_party": -5}
KARMA_LIMIT = 1000


def karma_label(karma: int) -> str:
    return ("saint" if karma >= 500 else "virtuous" if karma >= 100 else "villain" if karma <= -500
            else "rogue" if karma <= -100 else "neutral")


class KarmaInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    player_id: int = Field(ge=1)
    act: Act
    count: int = Field(1, ge=1, le=100)


class KarmaOutput(Strict):
    karma_delta: int = Field(ge=-200, le=200)
    label: Literal["saint", "virtuous", "neutral", "rogue", "villain"]
    reason: str = Text(200)


def karma_offline(inputs: KarmaInputs) -> KarmaOutput:
    player = PlayerCharacter.objects.get(pk=inputs.player_id)
    per_act = ACT_KARMA[inputs.act]
    # repeated acts count less each time (square root), so farming good deeds saturates
    delta = int(clamp(round(per_act * inputs.count ** 0.5), -200, 200))
    new = int(clamp(player.karma + delta, -KARMA_LIMIT, KARMA_LIMIT))
    return KarmaOutput(karma_delta=delta, label=karma_label(new),
                       reason=f"{inputs.act.replace('_', ' ')} x{inputs.count}: karma {player.karma} -> {new}")


def karma_apply(output: KarmaOutput, inputs: KarmaInputs) -> dict:
    player = PlayerCharacter.objects.select_for_update().get(pk=inputs.player_id)
    player.karma = int(clamp(player.karma + output.karma_delta, -KARMA_LIMIT, KARMA_LIMIT))
    player.save(update_fields=["karma"])
    return {"karma": player.karma, "label": karma_label(player.karma)}


# -- faction ----------------------------------------------------------------------------------------
# kinds whose interests clash: a criminal guild is everyone's rival but its own kind's
CLASH = {frozenset(p) for p in (("kingdom", "criminal"), ("military", "criminal"), ("religious", "criminal"),
                                ("merchant", "criminal"), ("kingdom", "guild"))}
TRUCE_PLAYERS = 3  # this many players friendly with both rivals make them neutral


class FactionInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    faction_id: int | None = Field(None, ge=1, description="only this faction's relations; None: all")


class RelationChange(Strict):
    faction_id: int = Field(ge=1)
    other_id: int = Field(ge=1)
    relation: Literal["rival", "neutral"]


class FactionOutput(Strict):
    changes: list[RelationChange] = Field(max_length=20)
    announcement: str = Text(300)


def faction_offline(inputs: FactionInputs) -> FactionOutput:
    factions = list(Faction.objects.order_by("pk").prefetch_related("rivals"))
    friendly: dict[int, set[int]] = {}
    for player_id, faction_id in Reputation.objects.filter(points__gte=100).values_list("player_id", "faction_id"):
        friendly.setdefault(faction_id, set()).add(player_id)
    changes, words = [], []
    for i, a in enumerate(factions):
        for b in factions[i + 1:]:
            if inputs.faction_id and inputs.faction_id not in (a.pk, b.pk):
                continue
            rivals = b in a.rivals.all()
            shared = len(friendly.get(a.pk, set()) & friendly.get(b.pk, set()))
            if rivals and shared >= TRUCE_PLAYERS:
                changes.append(RelationChange(faction_id=a.pk, other_id=b.pk, relation="neutral"))
                words.append(f"{a.name} and {b.name} call a truce, brokered by {shared} adventurers")
            elif not rivals and shared < TRUCE_PLAYERS and frozenset((a.kind, b.kind)) in CLASH:
                changes.append(RelationChange(faction_id=a.pk, other_id=b.pk, relation="rival"))
                words.append(f"{a.name} and {b.name} are now open rivals")
    announcement = ("; ".join(words) + ".") if words else "The balance of power holds."
    return FactionOutput(changes=changes[:20], announcement=announcement[:300])


def faction_apply(output: FactionOutput, inputs: FactionInputs) -> dict:
    for change in output.changes:
        a, b = Faction.objects.get(pk=change.faction_id), Faction.objects.get(pk=change.other_id)
        if a.pk == b.pk:
            raise ValueError("a faction cannot be its own rival")
        (a.rivals.add if change.relation == "rival" else a.rivals.remove)(b)  # symmetrical M2M
    applied: dict = {"changes": len(output.changes)}
    if output.changes:
        event = create_event("faction", "faction_news", "News of the factions", output.announcement, "", {
            "changes": [c.model_dump() for c in output.changes]}, 24 * 60)
        applied["world_event"] = event.pk
    return applied


AGENTS_HERE = (
    Agent("reputation", "request", "Faction chronicler", "Judge how a deed changes a player's standing",
          "You keep the ledgers of every faction.", "Score the deed for the faction and its rivals.",
          ReputationInputs, ReputationOutput, reputation_offline, reputation_apply,
          lambda i: {"faction": Faction.objects.filter(pk=i.faction_id).values("name", "kind").first(),
                     "rivals": list(Faction.objects.filter(rivals=i.faction_id).values("id", "name"))},
          "Reputation points for the faction (+ opposite, halved, for its rivals); tier per BRIEF §2"),
    Agent("karma", "request", "Karma judge", "Weigh a player's act on the scale of good and evil",
          "You are the world's conscience.", "Score the act's karma change and the player's resulting label.",
          KarmaInputs, KarmaOutput, karma_offline, karma_apply,
          lambda i: {"karma": PlayerCharacter.objects.filter(pk=i.player_id).values_list("karma", flat=True).first()},
          "PlayerCharacter.karma (clamped to +-1000)"),
    Agent("faction", "periodic", "Faction diplomat", "Decide which factions become rivals or make peace",
          "You follow the politics of kingdoms, guilds and gangs.",
          "Propose rivalry/truce changes between factions from their kinds and shared friends; announce them.",
          FactionInputs, FactionOutput, faction_offline, faction_apply,
          lambda i: {"factions": list(Faction.objects.values("id", "name", "kind")[:50])},
          "Faction.rivals changes and a faction_news WorldEvent"),
)
