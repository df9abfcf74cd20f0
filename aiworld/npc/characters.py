"""The NPC and the player character a payload names: one lookup for every NPC-side operation."""

from __future__ import annotations

from aiworld.errors import PayloadError
from aiworld.models import NPC, PlayerCharacter


def active_npc(game_id: int) -> NPC:
    """The active NPC with this map-server id; PayloadError("unknown_npc") otherwise."""
    npc = NPC.objects.select_related("faction").filter(game_id=game_id, active=True).first()
    if npc is None:
        raise PayloadError("unknown_npc", f"no active NPC with game id {game_id}")
    return npc


def player(server: str, char_id: int, name: str | None = None) -> PlayerCharacter:
    """The character, created on first contact; a renamed character gets its new name."""
    character, _ = PlayerCharacter.objects.get_or_create(server=server, char_id=char_id,
                                                         defaults={"name": name or f"char {char_id}"})
    if name and character.name != name:
        PlayerCharacter.objects.filter(pk=character.pk).update(name=name)
        character.name = name
    return character
