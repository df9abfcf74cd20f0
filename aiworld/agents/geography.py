"""What the offline agents know of the world's maps: climate, region and the monsters that live there.

Ids are rAthena's (mob_db). A map not listed gets the temperate defaults, so a new map works at once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MapInfo:
    region: str
    climate: str          # temperate, desert, snow, volcanic, swamp, dungeon
    mobs: tuple[tuple[int, str], ...]


_FIELD = ((1002, "Poring"), (1113, "Drops"), (1063, "Lunatic"), (1007, "Fabre"))
_rm = lambda climate, mobs: MapInfo("Rune-Midgarts", climate, mobs)  # noqa: E731
_sw = lambda climate, mobs: MapInfo("Schwarzwald", climate, mobs)  # noqa: E731
MAPS: dict[str, MapInfo] = {
    "prontera": _rm("temperate", _FIELD),
    "prt_fild08": _rm("temperate", _FIELD),
    "izlude": _rm("temperate", ((1031, "Poporing"), (1002, "Poring"), (1012, "Roda Frog"))),
    "geffen": _rm("temperate", ((1019, "Peco Peco"), (1052, "Rocker"), (1049, "Picky"))),
    "payon": _rm("temperate", ((1076, "Skeleton"), (1015, "Zombie"), (1188, "Bongun"))),
    "morocc": _rm("desert", ((1001, "Scorpion"), (1127, "Hode"), (1051, "Thief Bug"))),
    "moc_fild16": _rm("desert", ((1001, "Scorpion"), (1127, "Hode"), (1054, "Thief Bug Male"))),
    "alberta": _rm("temperate", ((1073, "Crab"), (1069, "Swordfish"), (1024, "Wormtail"))),
    "aldebaran": _rm("temperate", ((1193, "Alarm"), (1194, "Punk"), (1176, "Vitata"))),
    "lutie": _rm("snow", ((1243, "Sasquatch"), (1244, "Christmas Jakk"), (1242, "Marin"))),
    "xmas_fild01": _rm("snow", ((1243, "Sasquatch"), (1242, "Marin"), (1246, "Cookie"))),
    "glast_01": _rm("swamp", ((1198, "Dark Priest"), (1117, "Evil Druid"), (1197, "Zombie Prisoner"))),
    "juperos_01": _sw("dungeon", ((1676, "Venatu"), (1677, "Venatu"), (1679, "Dimik"))),
    "einbroch": _sw("volcanic", ((1665, "Metaling"), (1616, "Zherlthsh"), (1621, "Apocalips"))),
    "thor_v01": _sw("volcanic", ((1832, "Ifrit's Kasa"), (1833, "Salamander"), (1834, "Kasa"))),
    "pay_dun00": _rm("dungeon", ((1015, "Zombie"), (1076, "Skeleton"), (1188, "Bongun"))),
    "moc_pryd01": _rm("dungeon", ((1297, "Ancient Mummy"), (1041, "Mummy"), (1028, "Soldier Skeleton"))),
}
DEFAULT = MapInfo("Rune-Midgarts", "temperate", _FIELD)

# MVPs the dynamic-boss agent may call up (id, name, base level)
BOSSES: tuple[tuple[int, str, int], ...] = (
    (1038, "Osiris", 78), (1039, "Baphomet", 81), (1046, "Doppelganger", 72), (1059, "Mistress", 74),
    (1086, "Golden Thief Bug", 64), (1112, "Drake", 70), (1115, "Eddga", 65), (1147, "Maya", 81),
    (1150, "Moonlight Flower", 67), (1157, "Pharaoh", 93), (1159, "Phreeoni", 71), (1190, "Orc Lord", 74),
)


def info(map_name: str) -> MapInfo:
    return MAPS.get(map_name, DEFAULT)
