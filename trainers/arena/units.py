"""Stats, skills and mob-skill entries of the six monster archetypes and the four adventurer classes.

A unit's `kind` indexes every table: 0-5 are the monster archetypes (aiworld.mobs.state.ARCHETYPES order),
6-9 the adventurer classes. Times are in ticks of 100 ms (rAthena's AI tick); stats use rAthena's scales
(the state divides ATK by 2000, DEF by 200, ...). Numbers are tuned so that a traditional-AI pack and a
scripted party of the scenario sizes trade wins (see docs/arena.md for the measured rates).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aiworld.mobs.state import ARCHETYPES

TICK_MS = 100
CLASSES = ("melee", "ranged", "mage", "healer")  # adventurer classes (scenario files use these names)
KINDS = ARCHETYPES + ("melee", "ranged_adv", "mage_adv", "healer")  # table keys, one per kind
NUM_ARCHETYPES = len(ARCHETYPES)
KIND = {name: i for i, name in enumerate(KINDS)}
CLASS_KIND = {name: NUM_ARCHETYPES + i for i, name in enumerate(CLASSES)}

# rAthena mob modes (a subset of e_mode, own bit values)
MD_AGGRESSIVE = 1
MD_ASSIST = 2
MD_CASTSENSOR = 4
MD_CANMOVE = 8
MD_ANGRY = 16  # aggressive until hit: chases in MSS_FOLLOW and attacks in MSS_ANGRY
MD_CHANGETARGET_MELEE = 32
MD_CHANGETARGET_CHASE = 64
MD_STATUSIMMUNE = 128  # boss: immune to stun and slow

MAX_MINCHASE = 30  # rAthena MAX_MINCHASE (cells)
MOB_SLAVEDISTANCE = 2  # followers walk back to within this many cells of the leader
MIN_RANDOMWALKTIME = 40  # ticks (rAthena: 4000 ms)
MOB_SKILL_INTERVAL = 10  # ticks between idle/chase skill checks (rAthena MOB_SKILL_INTERVAL 1000 ms)
MIN_MOBLINKTIME = 10  # ticks (1000 ms) between a follower's looks at its leader's target
RANDOMWALK_RANGE = 7  # rAthena mob_randomwalk's d
# random channels drawn every tick: float32[NR, E, U] (core.VecArena._draw)
R_HIT, R_DMG, R_SKILL_HIT, R_SKILL_DMG, R_STATUS, R_MOVE, R_WALK_X, R_WALK_Y, R_WALK_T, R_PATTERN = range(10)
R_ENTRY = 10  # + k: the rate roll of mob-skill entry k


@dataclass(frozen=True)
class Stats:
    level: int
    hp: float
    sp: float
    atk: float
    def_: float
    matk: float
    mdef: float
    hit: float
    flee: float
    adelay: int  # attack delay, ms
    walk: int  # walk delay per cell, ms (rAthena "speed")
    range: int  # attack range, cells
    view: int  # rAthena range2: view/aggro range
    chase: int  # rAthena range3: chase range
    mode: int


_MOVE = MD_CANMOVE
STATS: dict[str, Stats] = {
    # monsters
    "aggressive": Stats(55, 4400, 220, 380, 35, 60, 15, 150, 95, 1100, 130, 1, 12, 14,
                        _MOVE | MD_AGGRESSIVE | MD_ANGRY | MD_CHANGETARGET_MELEE),
    "defensive": Stats(55, 5400, 240, 250, 80, 60, 45, 140, 80, 1400, 180, 1, 10, 12, _MOVE | MD_ASSIST),
    "support": Stats(50, 3500, 450, 130, 30, 280, 60, 130, 100, 1700, 180, 1, 12, 14, _MOVE | MD_ASSIST),
    "mage": Stats(55, 3000, 520, 100, 20, 360, 70, 130, 90, 2000, 200, 9, 12, 14,
                  _MOVE | MD_AGGRESSIVE | MD_CASTSENSOR),
    "tank": Stats(60, 7600, 260, 250, 115, 40, 55, 140, 60, 1600, 220, 1, 10, 12,
                  _MOVE | MD_AGGRESSIVE | MD_CHANGETARGET_MELEE | MD_CHANGETARGET_CHASE),
    "ranged": Stats(52, 3500, 300, 330, 25, 50, 20, 170, 110, 1300, 170, 9, 12, 14, _MOVE | MD_AGGRESSIVE),
    # adventurers (mode: they can move; the rest is unused)
    "melee": Stats(60, 5600, 260, 230, 65, 50, 25, 160, 105, 900, 150, 1, 14, 20, _MOVE),
    "ranged_adv": Stats(60, 4000, 300, 215, 30, 60, 25, 190, 140, 1000, 150, 9, 14, 20, _MOVE),
    "mage_adv": Stats(60, 3300, 650, 90, 20, 250, 65, 140, 105, 1800, 150, 9, 14, 20, _MOVE),
    "healer": Stats(60, 3900, 720, 150, 40, 300, 75, 140, 105, 1600, 150, 1, 14, 20, _MOVE),
}
_STAT_KEYS = KINDS

# skill target kinds
T_ENEMY, T_SELF, T_ALLY, T_GROUND, T_AROUND, T_PARTY = range(6)


@dataclass(frozen=True)
class Skill:
    name: str
    sp: float
    cast: int  # ticks
    cooldown: int  # ticks (a mob skill's "delay")
    range: int  # cells
    target: int  # T_*
    power: float = 0.0  # damage multiplier of ATK (physical) or MATK (magic); 0: no damage
    magic: bool = False
    radius: int = 0  # area (Chebyshev) for T_GROUND / T_AROUND / T_PARTY
    hazard_ticks: int = 0  # the area lingers and pulses every HAZARD_PULSE ticks (storm-gust style)
    hazard_power: float = 0.0
    heal: float = 0.0  # heal = heal x MATK
    heal_pct: float = 0.0  # heal = heal_pct x max HP
    buff_atk: float = 0.0  # +fraction of ATK and MATK
    buff_def: float = 0.0  # +fraction of DEF and MDEF
    buff_ticks: int = 0
    debuff_def: float = 0.0  # -fraction of DEF and MDEF on the target
    debuff_ticks: int = 0
    stun_ticks: int = 0
    stun_chance: float = 0.0
    slow_ticks: int = 0  # walk delay doubled
    slow_chance: float = 0.0
    provoke_ticks: int = 0  # the target must attack the caster
    cancel: bool = False  # the cast is interrupted by damage (rAthena CastCancel)
    hits: int = 1  # for the attack-motion lock only


HAZARD_PULSE = 5  # ticks between pulses of a lingering area

SKILLS: dict[str, tuple[Skill, Skill, Skill]] = {
    "aggressive": (
        Skill("bash", 15, 0, 30, 1, T_ENEMY, power=2.8),
        Skill("frenzy", 30, 0, 300, 0, T_SELF, buff_atk=0.4, buff_ticks=150),
        Skill("stun_blow", 25, 5, 100, 1, T_ENEMY, power=1.4, stun_ticks=20, stun_chance=0.8),
    ),
    "defensive": (
        Skill("stun_counter", 20, 0, 60, 1, T_ENEMY, power=1.8, stun_ticks=15, stun_chance=0.7),
        Skill("heal_self", 40, 10, 150, 0, T_SELF, heal_pct=0.22, cancel=True),
        Skill("guard", 30, 0, 300, 0, T_SELF, buff_def=0.7, buff_ticks=150),
    ),
    "support": (
        Skill("slow", 20, 5, 80, 9, T_ENEMY, power=0.6, magic=True, slow_ticks=50, slow_chance=1.0),
        Skill("heal", 40, 10, 40, 9, T_ALLY, heal=2.0, cancel=True),
        Skill("blessing", 35, 5, 200, 0, T_PARTY, radius=9, buff_atk=0.25, buff_ticks=200),
    ),
    "mage": (
        Skill("bolt", 25, 12, 20, 9, T_ENEMY, power=2.5, magic=True, cancel=True),
        Skill("storm", 60, 25, 150, 9, T_GROUND, power=1.2, magic=True, radius=2, hazard_ticks=30,
              hazard_power=0.55, cancel=True),
        Skill("frost", 35, 8, 120, 9, T_ENEMY, power=1.0, magic=True, stun_ticks=30, stun_chance=0.7,
              cancel=True),
    ),
    "tank": (
        Skill("shield_charge", 20, 0, 80, 1, T_ENEMY, power=1.5, stun_ticks=20, stun_chance=0.6),
        Skill("shield", 30, 0, 300, 0, T_SELF, buff_def=0.8, buff_ticks=200),
        Skill("provoke", 15, 0, 100, 9, T_ENEMY, debuff_def=0.3, debuff_ticks=100, provoke_ticks=50),
    ),
    "ranged": (
        Skill("double_strafe", 12, 0, 15, 9, T_ENEMY, power=1.9, hits=2),
        Skill("arrow_shower", 20, 0, 60, 9, T_GROUND, power=1.25, radius=1),
        Skill("slowing_shot", 18, 0, 80, 9, T_ENEMY, power=1.0, slow_ticks=40, slow_chance=1.0),
    ),
    "melee": (
        Skill("bash", 15, 0, 10, 1, T_ENEMY, power=2.5),
        Skill("magnum_break", 25, 0, 60, 0, T_AROUND, power=1.6, radius=2),
        Skill("provoke", 10, 0, 60, 9, T_ENEMY, debuff_def=0.2, debuff_ticks=100, provoke_ticks=50),
    ),
    "ranged_adv": (
        Skill("double_strafe", 12, 0, 10, 9, T_ENEMY, power=1.9, hits=2),
        Skill("arrow_shower", 20, 0, 40, 9, T_GROUND, power=1.25, radius=1),
        Skill("slowing_shot", 18, 0, 80, 9, T_ENEMY, power=1.0, slow_ticks=40, slow_chance=1.0),
    ),
    "mage_adv": (
        Skill("bolt", 25, 12, 10, 9, T_ENEMY, power=3.0, magic=True, cancel=True),
        Skill("storm_gust", 70, 30, 120, 9, T_GROUND, power=1.0, magic=True, radius=2, hazard_ticks=30,
              hazard_power=0.55, cancel=True),
        Skill("frost_diver", 30, 8, 60, 9, T_ENEMY, power=1.0, magic=True, stun_ticks=30, stun_chance=0.7,
              cancel=True),
    ),
    "healer": (
        Skill("heal", 40, 5, 30, 9, T_ALLY, heal=1.5),
        Skill("blessing", 40, 5, 300, 0, T_PARTY, radius=9, buff_atk=0.2, buff_ticks=300),
        Skill("holy_light", 15, 8, 20, 9, T_ENEMY, power=1.5, magic=True, cancel=True),
    ),
}

# rAthena mob_skill_db states and conditions (a subset)
S_ANY, S_ANYTARGET, S_IDLE, S_WALK, S_ATTACK, S_ANGRY, S_CHASE, S_FOLLOW, S_DEAD = range(9)
STATE_NAMES = ("any", "anytarget", "idle", "walk", "attack", "angry", "chase", "follow", "dead")
# a monster's skill state (MSS_*): attack is BERSERK, chase is RUSH; ANGRY and FOLLOW are the
# MD_ANGRY variants before the monster is hit
MSS_IDLE, MSS_WALK, MSS_BERSERK, MSS_ANGRY, MSS_RUSH, MSS_FOLLOW, MSS_DEAD = S_IDLE, S_WALK, S_ATTACK, S_ANGRY, \
    S_CHASE, S_FOLLOW, S_DEAD
C_ALWAYS, C_MYHPLT, C_FRIENDHPLT, C_SLAVELT, C_CLOSEDATTACKED, C_LONGRANGEATTACKED, C_SKILLUSED = range(7)
COND_NAMES = ("always", "myhpltmaxrate", "friendhpltmaxrate", "slavelt", "closedattacked", "longrangeattacked",
              "skillused")
FRIEND_RANGE = 8  # rAthena mob_getfriendhprate searches 8 cells


@dataclass(frozen=True)
class MobSkill:
    """One mob_skill_db row: use skill `slot` (0..2) in `state` with `rate`/10000 when `cond` holds."""

    slot: int
    state: int
    rate: int
    cond: int
    value: int = 0  # cond2 (HP percent, slave count)


MOB_SKILLS: dict[str, tuple[MobSkill, ...]] = {
    "aggressive": (
        MobSkill(1, S_ANYTARGET, 3000, C_MYHPLT, 60),  # frenzy when hurt
        MobSkill(2, S_ATTACK, 1200, C_ALWAYS),  # stun blow
        MobSkill(0, S_ATTACK, 2500, C_ALWAYS),  # bash
        MobSkill(1, S_FOLLOW, 500, C_SLAVELT, 1),  # frenzy when charging in with (almost) no pack left
    ),
    "defensive": (
        MobSkill(1, S_ANY, 5000, C_MYHPLT, 45),  # heal self
        MobSkill(0, S_ANYTARGET, 3500, C_CLOSEDATTACKED),  # stun counter
        MobSkill(2, S_ANYTARGET, 4000, C_SKILLUSED),  # guard when hit by a skill
        MobSkill(2, S_ATTACK, 1500, C_MYHPLT, 80),  # guard
    ),
    "support": (
        MobSkill(1, S_ANY, 6000, C_FRIENDHPLT, 65),  # heal a hurt friend
        MobSkill(1, S_ANY, 6000, C_MYHPLT, 55),  # heal itself
        MobSkill(2, S_ANYTARGET, 1500, C_ALWAYS),  # blessing
        MobSkill(0, S_ANYTARGET, 1500, C_ALWAYS),  # slow
    ),
    "mage": (
        MobSkill(2, S_ANYTARGET, 4000, C_CLOSEDATTACKED),  # frost the one hitting it in melee
        MobSkill(1, S_ATTACK, 1500, C_ALWAYS),  # storm
        MobSkill(0, S_ANYTARGET, 3500, C_ALWAYS),  # bolt
    ),
    "tank": (
        MobSkill(2, S_ANYTARGET, 5000, C_LONGRANGEATTACKED),  # provoke the shooter
        MobSkill(1, S_ANYTARGET, 3000, C_MYHPLT, 70),  # shield
        MobSkill(2, S_ANYTARGET, 2000, C_FRIENDHPLT, 60),  # provoke when a friend is hurt
        MobSkill(0, S_ATTACK, 1500, C_ALWAYS),  # shield charge
    ),
    "ranged": (
        MobSkill(2, S_ANYTARGET, 3000, C_CLOSEDATTACKED),  # slowing shot on the one that closed in
        MobSkill(1, S_ATTACK, 1000, C_ALWAYS),  # arrow shower
        MobSkill(0, S_ATTACK, 2500, C_ALWAYS),  # double strafe
    ),
}
MAX_MOB_SKILLS = max(len(v) for v in MOB_SKILLS.values())
NR = R_ENTRY + MAX_MOB_SKILLS
HEALER_ARCHETYPES = (KIND["support"],)  # archetypes with a heal for allies (state index 29)


def _column(get, dtype) -> np.ndarray:
    return np.array([get(key) for key in _STAT_KEYS], dtype)


class Tables:
    """The tables above as numpy arrays indexed by kind (and skill slot / mob-skill entry)."""

    def __init__(self) -> None:
        st = [STATS[k] for k in _STAT_KEYS]
        self.level = np.array([s.level for s in st], np.float32)
        self.hp = np.array([s.hp for s in st], np.float32)
        self.sp = np.array([s.sp for s in st], np.float32)
        self.atk = np.array([s.atk for s in st], np.float32)
        self.def_ = np.array([s.def_ for s in st], np.float32)
        self.matk = np.array([s.matk for s in st], np.float32)
        self.mdef = np.array([s.mdef for s in st], np.float32)
        self.hit = np.array([s.hit for s in st], np.float32)
        self.flee = np.array([s.flee for s in st], np.float32)
        self.adelay = np.array([s.adelay for s in st], np.int32)
        self.walk = np.array([s.walk for s in st], np.float32)
        self.range = np.array([s.range for s in st], np.int32)
        self.view = np.array([s.view for s in st], np.int32)
        self.chase = np.array([s.chase for s in st], np.int32)
        self.mode = np.array([s.mode for s in st], np.int32)
        sk = [SKILLS[k] for k in _STAT_KEYS]
        self.skill_names = [[s.name for s in row] for row in sk]

        def field(name: str, dtype) -> np.ndarray:
            return np.array([[getattr(s, name) for s in row] for row in sk], dtype)

        for name, dtype in (("sp", np.float32), ("cast", np.int32), ("cooldown", np.int32), ("range", np.int32),
                            ("target", np.int32), ("power", np.float32), ("magic", bool), ("radius", np.int32),
                            ("hazard_ticks", np.int32), ("hazard_power", np.float32), ("heal", np.float32),
                            ("heal_pct", np.float32), ("buff_atk", np.float32), ("buff_def", np.float32),
                            ("buff_ticks", np.int32), ("debuff_def", np.float32), ("debuff_ticks", np.int32),
                            ("stun_ticks", np.int32), ("stun_chance", np.float32), ("slow_ticks", np.int32),
                            ("slow_chance", np.float32), ("provoke_ticks", np.int32), ("cancel", bool),
                            ("hits", np.int32)):
            setattr(self, "sk_" + name, field(name, dtype))
        # mob skills per archetype, padded to MAX_MOB_SKILLS (slot -1: no entry)
        K = MAX_MOB_SKILLS
        self.ms_slot = np.full((len(KINDS), K), -1, np.int32)
        self.ms_state = np.zeros((len(KINDS), K), np.int32)
        self.ms_rate = np.zeros((len(KINDS), K), np.int32)
        self.ms_cond = np.zeros((len(KINDS), K), np.int32)
        self.ms_value = np.zeros((len(KINDS), K), np.int32)
        for a, name in enumerate(ARCHETYPES):
            for k, row in enumerate(MOB_SKILLS[name]):
                self.ms_slot[a, k], self.ms_state[a, k], self.ms_rate[a, k] = row.slot, row.state, row.rate
                self.ms_cond[a, k], self.ms_value[a, k] = row.cond, row.value
        self.ranged_attack = self.range >= 4  # rAthena: BF_LONG beyond 3 cells


TABLES = Tables()
