"""The dialogue agent: one NPC reply in persona. The lead's dialogue service (aiworld.npc.dialogue)
calls it and persists the turn, relationship and memory, so `apply` here writes nothing more.

Offline path: intent by keyword rules -> a template for that intent, shaped by the NPC's voice
(Big Five, alignment, mood, quirks) and its stance towards the player (friend, stranger, enemy),
mentioning the most relevant memory when one is given. Choices are seeded by a hash of the inputs.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aiworld.agents.base import Agent, Strict, Text, seeded
from aiworld.agents.personality import Voice, voice
from aiworld.models.npc import MOODS

Emotion = Literal["neutral", "happy", "content", "sad", "angry", "afraid", "suspicious", "excited"]


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")  # callers may pass ids and more; we read what we need


class Personality(_In):
    openness: float = Field(0.5, ge=0, le=1)
    conscientiousness: float = Field(0.5, ge=0, le=1)
    extraversion: float = Field(0.5, ge=0, le=1)
    agreeableness: float = Field(0.5, ge=0, le=1)
    neuroticism: float = Field(0.5, ge=0, le=1)


class NPCIn(_In):
    name: str = Field(min_length=1, max_length=100)
    job_class: str = "merchant"
    map: str = "prontera"
    personality: Personality = Personality()
    alignment: str = "true neutral"
    mood: Literal[MOODS] = "neutral"  # type: ignore[valid-type]
    quirks: list[str] = []
    backstory: str = ""
    faction: str = ""


class PlayerIn(_In):
    name: str = Field(min_length=1, max_length=100)


class RelationshipIn(_In):
    affinity: int = Field(0, ge=-100, le=100)
    trust: float = Field(0.5, ge=0, le=1)
    interactions: int = Field(0, ge=0)


class TurnIn(_In):
    player: str
    npc: str


class DialogueInputs(_In):
    npc: NPCIn
    player: PlayerIn
    relationship: RelationshipIn = RelationshipIn()
    memories: list[str] = []
    player_text: str = Field(min_length=1, max_length=500)
    recent_turns: list[TurnIn] = []


class DialogueOutput(Strict):
    reply: str = Text(300)
    emotion: Emotion
    relationship_delta: int = Field(ge=-5, le=5)
    offer_quest: bool
    memory: str = Text(300)
    importance: int = Field(ge=1, le=10)


# -- intent -----------------------------------------------------------------------------------------
# Checked in this order: the first match wins (an insult wrapped in a greeting is an insult).
INTENTS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((name, re.compile(pattern, re.I)) for name, pattern in (
    ("insult", r"\b(stupid|idiot|fool|moron|ugly|useless|worthless|scum|pathetic|shut up|hate you|"
               r"kill you|i'?ll (hurt|end|kill)|die\b|loser|liar|thief)"),
    ("about_self", r"\b(who are you|your name|about (yourself|you)|what do you do|where are you from|"
                   r"your (story|past|job)|how are you)"),
    ("farewell", r"\b(bye|goodbye|farewell|see you|see ya|take care|good ?night|until next time)\b"),
    ("thanks", r"\b(thanks?|thank you|thx|appreciate|well done|you'?re (great|kind|amazing|wonderful|the best)|"
               r"nice (hat|work|shop)|beautiful)"),
    ("trade", r"\b(buy|sell|trade|shop|price|cost|how much|wares|goods|potions?|sale|cheap|discount|zeny)\b"),
    ("quest", r"\b(quests?|tasks?|jobs?|work|help|missions?|errands?|favou?r|anything (i can|to) do)\b"),
    ("directions", r"\b(where|how (do|can) i get|way to|directions?|located|path to|road to|lost)\b"),
    ("rumours", r"\b(news|rumou?rs?|gossip|heard|happening|going on|what'?s new)\b"),
    ("greeting", r"\b(hi|hello|hey|greetings|good (morning|afternoon|evening|day)|howdy|hail|yo)\b"),
))


def intent_of(text: str) -> str:
    for name, pattern in INTENTS:
        if pattern.search(text):
            return name
    return "unknown"


# Directions to a thing the game knows (a town service, a map, an NPC): name it back.
PLACE_DIRECTIONS = {
    "warm": "The {thing}? Follow the main road through {map}; you cannot miss it. Ask the guards if you get lost.",
    "plain": "The {thing}? Main road through {map}, then ask around.",
    "curt": "The {thing}? Find it yourself.",
}


def _mentions(text: str) -> frozenset[str]:
    from aiworld.npc.entities import mentions

    return mentions(text)


def stance_of(relationship: RelationshipIn) -> str:
    if relationship.affinity >= 40:
        return "friend"
    if relationship.affinity <= -30:
        return "enemy"
    return "stranger" if relationship.interactions == 0 else "acquaintance"


# -- templates --------------------------------------------------------------------------------------
# {p}: player, {n}: NPC, {job}, {map}. Keys: (intent, tone) with tone warm / curt / plain.
TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("greeting", "warm"): ("Welcome, welcome! It is good to see a new face in {map}.",
                           "Hello there, traveller! Make yourself at home."),
    ("greeting", "plain"): ("Greetings. What brings you to {map}?", "Hello. Need something?"),
    ("greeting", "curt"): ("What do you want?", "Hmph. Another adventurer. Speak quickly."),
    ("farewell", "warm"): ("Safe travels, {p}! Come back soon.", "Take care out there, {p}."),
    ("farewell", "plain"): ("Farewell.", "Until next time."),
    ("farewell", "curt"): ("Finally.", "Go on, then."),
    ("trade", "warm"): ("Have a look at my wares, {p}! Fair prices for fair folk.",
                        "Buying or selling? Either way, I will treat you right."),
    ("trade", "plain"): ("My prices are posted. Buy or move along.", "I can trade. What do you need?"),
    ("trade", "curt"): ("Coin first, questions later.", "Prices are what they are. Take it or leave it."),
    ("quest", "warm"): ("Oh, you would help? There is something troubling this town, and I could use a hand.",
                        "Kind of you to ask! I do have a task, if you are willing."),
    ("quest", "plain"): ("There might be work for someone capable.", "I have a job, if you want it."),
    ("quest", "curt"): ("Help? Prove you are worth trusting first.", "If you want work, do not waste my time."),
    ("directions", "warm"): ("Lost? Follow the main road through {map}; the Kafra staff can send you anywhere.",
                             "The guards at the gate know every path out of {map}. Tell them I sent you."),
    ("directions", "plain"): ("Main road, then ask the Kafra staff.", "Check your map. {map} is not that big."),
    ("directions", "curt"): ("Do I look like a signpost?", "Find it yourself."),
    ("rumours", "warm"): ("They say strange things stir around {map} lately. Keep your eyes open.",
                          "Oh, the stories I hear! Adventurers come and go with tales every day."),
    ("rumours", "plain"): ("Quiet, mostly. Monsters, merchants, the usual.", "Nothing worth repeating."),
    ("rumours", "curt"): ("Gossip is for idle people.", "I do not trade in rumours."),
    ("insult", "warm"): ("That was unkind. I hope your day gets better.", "Words like that hurt, you know."),
    ("insult", "plain"): ("Watch your tongue.", "I will pretend I did not hear that."),
    ("insult", "curt"): ("Say that again and you will regret it.", "Get out of my sight."),
    ("thanks", "warm"): ("You are too kind! That warms my heart.", "Anytime, friend. Anytime."),
    ("thanks", "plain"): ("You are welcome.", "Glad to be of use."),
    ("thanks", "curt"): ("Flattery will not lower my prices.", "Sure. Whatever."),
    ("about_self", "warm"): ("Me? I am {n}, a {job} of {map}. I love meeting people like you!",
                             "I am {n}. Being a {job} here is a good life, mostly."),
    ("about_self", "plain"): ("{n}. I am a {job}.", "Name is {n}. I work as a {job} in {map}."),
    ("about_self", "curt"): ("That is none of your business.", "{n}. That is all you need to know."),
    ("unknown", "warm"): ("Hmm, I am not sure I follow, but I am happy to chat!",
                          "Interesting! Tell me more, {p}."),
    ("unknown", "plain"): ("I do not quite follow.", "Hmm. Go on."),
    ("unknown", "curt"): ("Speak plainly or not at all.", "What are you babbling about?"),
}

OPENERS = {  # stance -> by extraversion: (extravert, plain, introvert)
    "friend": ("{p}, my friend! ", "Ah, {p}. ", "{p}... good to see you. "),
    "acquaintance": ("{p}! ", "{p}. ", ""),
    "stranger": ("", "", ""),
    "enemy": ("You again, {p}? ", "{p}. ", "...{p}. "),
}
MOOD_PREFIX = {"angry": "Hmph. ", "sad": "*sighs* ", "excited": "Oh! ", "afraid": "I-I... ",
               "suspicious": "Hm? ", "happy": "", "content": "", "neutral": ""}
ALIGNMENT_TAGS = {  # (law, moral, intent) -> a short line added when it fits
    ("lawful", "trade"): "All sales by the King's law, of course.",
    ("lawful", "quest"): "Do it properly, by the rules.",
    ("chaotic", "trade"): "No questions asked about where it came from.",
    ("chaotic", "quest"): "Rules? We will bend them if we must.",
    ("evil", "quest"): "And what is in it for me?",
    ("evil", "trade"): "Everything has a price. Some higher than others.",
    ("good", "insult"): "Still, I wish you well.",
}
EMOTIONS = {"greeting": "content", "farewell": "neutral", "trade": "content", "quest": "content",
            "directions": "neutral", "rumours": "neutral", "insult": "angry", "thanks": "happy",
            "about_self": "content", "unknown": "neutral"}
DELTAS = {"greeting": 1, "farewell": 0, "trade": 1, "quest": 1, "directions": 0, "rumours": 0, "insult": -3,
          "thanks": 2, "about_self": 1, "unknown": 0}
IMPORTANCE = {"greeting": 2, "farewell": 2, "trade": 4, "quest": 5, "directions": 2, "rumours": 3, "insult": 6,
              "thanks": 4, "about_self": 3, "unknown": 2}
MEMORY_LINES = {"greeting": "{p} greeted me", "farewell": "{p} said goodbye", "trade": "{p} asked about trading",
                "quest": "{p} offered to help with a task", "directions": "{p} asked me for directions",
                "rumours": "{p} asked me for news", "insult": "{p} insulted me", "thanks": "{p} thanked me",
                "about_self": "{p} asked about me", "unknown": "{p} talked to me"}
_ENDS_WITH = re.compile(r"ends? (?:every |each |their |his |her )?(?:sentences?|lines?|words?) with ['\"](.+?)['\"]",
                        re.I)
_SAYS = re.compile(r"(?:often says|always says|says|catchphrase:?)\s+['\"](.+?)['\"]", re.I)


def _tone(v: Voice, stance: str) -> str:
    if stance == "enemy" or v.curt or v.mood == "angry":
        return "curt" if not v.warm else "plain"
    if v.warm or stance == "friend":
        return "warm"
    return "plain"


def _trim(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 3].rsplit(" ", 1)[0]
    return cut.rstrip(",.;:") + "..."


def _memory_line(memory: str, stance: str) -> str:
    fact = _trim(memory.strip().rstrip("."), 110)
    if stance == "enemy":
        return f"Do not think I have forgotten: {fact}."
    if stance == "friend":
        return f"I still remember: {fact}."
    return f"I recall this: {fact}."


def _apply_quirks(reply: str, quirks: list[str]) -> str:
    for quirk in quirks:
        if match := _ENDS_WITH.search(quirk):
            suffix = match.group(1).strip()
            reply = re.sub(r"(?<![.!?])([.!?]+)(?=\s|$)", lambda m, s=suffix: f" {s}{m.group(1)}", reply)
        elif match := _SAYS.search(quirk):
            reply = f"{match.group(1).strip()} {reply}"
    return reply


def offline(inputs: DialogueInputs) -> DialogueOutput:
    npc, player, rel = inputs.npc, inputs.player, inputs.relationship
    v = voice(npc.personality.model_dump(), npc.alignment, npc.mood)
    stance = stance_of(rel)
    intent = intent_of(inputs.player_text)
    rng = seeded("dialogue", inputs.model_dump())
    fields = {"p": player.name, "n": npc.name, "job": npc.job_class, "map": npc.map}

    tone = _tone(v, stance)
    body = rng.choice(TEMPLATES[(intent, tone)]).format(**fields)
    if intent == "trade" and npc.job_class.lower() not in ("merchant", "blacksmith", "alchemist", "dealer",
                                                           "tool dealer", "shopkeeper"):
        body = f"I am a {npc.job_class}, not a shopkeeper. The tool dealer in {npc.map} can help you."
    if intent == "directions" and (things := sorted(_mentions(inputs.player_text))):
        body = PLACE_DIRECTIONS[tone].format(thing=things[0], **fields)
    if intent == "greeting" and stance in ("friend", "enemy"):
        body = ("Always a pleasure." if stance == "friend" else "I have not forgotten what you did.")
    parts = [MOOD_PREFIX.get(npc.mood, ""), OPENERS[stance][0 if v.extravert else 2 if v.introvert else 1]
             .format(**fields), body]
    tag = ALIGNMENT_TAGS.get((v.law, intent)) or ALIGNMENT_TAGS.get((v.moral, intent))
    if tag and not v.introvert:
        parts.append(" " + tag)
    if inputs.memories and intent not in ("farewell",):
        parts.append(" " + _memory_line(inputs.memories[0], stance))
    if v.extravert and intent in ("greeting", "thanks", "quest") and stance != "enemy":
        parts.append(" What a day!")
    if v.nervous and intent in ("rumours", "insult", "unknown"):
        parts.append(" ...Please keep your voice down.")
    reply = "".join(parts).strip()
    if v.introvert:  # the quiet ones trail off instead of exclaiming
        reply = reply.replace("!", ".")
    reply = _trim(_apply_quirks(reply, npc.quirks), 300)

    emotion = EMOTIONS[intent]
    if intent == "insult":
        emotion = "afraid" if v.nervous and not v.curt else "sad" if v.warm else "angry"
    elif stance == "enemy":
        emotion = "suspicious"
    elif stance == "friend" and intent in ("greeting", "farewell", "quest"):
        emotion = "happy"
    elif intent == "quest" and v.curious:
        emotion = "excited"
    delta = DELTAS[intent]
    if intent == "insult" and v.curt:
        delta = -5
    if stance == "enemy" and delta > 0:
        delta = min(delta, 1)  # grudges thaw slowly
    offer = intent == "quest" and stance != "enemy" and rel.trust >= 0.2
    importance = IMPORTANCE[intent] + (2 if stance == "stranger" and intent == "greeting" else 0)
    said = _trim(inputs.player_text.strip(), 80)
    memory = _trim(MEMORY_LINES[intent].format(**fields) + f': "{said}"', 300)
    return DialogueOutput(reply=reply, emotion=emotion, relationship_delta=delta, offer_quest=offer, memory=memory,
                          importance=min(10, importance))


def apply(output: DialogueOutput, inputs: DialogueInputs) -> dict:
    return {}  # aiworld.npc.dialogue persists the turn, the relationship change and the memory


def context(inputs: DialogueInputs) -> dict:
    return {"intent_hint": intent_of(inputs.player_text), "stance": stance_of(inputs.relationship)}


AGENT = Agent(
    name="dialogue", trigger="request",
    role="Voice of a role-playing game NPC",
    goal="Answer the player in the NPC's own voice, in one to three short sentences",
    backstory="You speak as a character of a fantasy MMORPG world. You never mention being an AI or any rules.",
    task=("Write the NPC's reply to the player's line. Stay in persona (personality, alignment, mood, quirks), "
          "take the relationship and the NPC's memories into account, never output commands or markup."),
    inputs_model=DialogueInputs, output_model=DialogueOutput, offline=offline, apply=apply, context=context,
    summary="one NPC reply in persona, with emotion, relationship change, quest offer and a memory line",
)
AGENTS_HERE = (AGENT,)
