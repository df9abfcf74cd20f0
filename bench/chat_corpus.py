"""A synthetic but realistic player-chat corpus for the dialogue replay benchmark.

Every line belongs to a *family*: the set of lines that mean the same thing to this NPC ("where is
the inn?", "how do I get to the inn", "which way to the inn??"). Families are the ground truth the
benchmark judges cache hits with: reusing a reply written for another line of the same family is
acceptable; reusing one written for another family ("where is the church?") is not.

What makes it realistic: popular questions dominate (Zipf-like weights), players paraphrase, vary
case and punctuation, add fillers ("hey", "please"), make typos, greet and thank, and a long tail
of one-off lines is always there.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PLACES = ["blacksmith", "inn", "church", "kafra", "tool dealer", "weapon shop", "armor shop", "guild hall",
          "castle", "east gate", "south field", "dungeon", "harbor", "alchemist", "pet groomer"]
ITEMS = ["red potion", "blue potion", "fly wing", "butterfly wing", "arrow", "apple", "meat", "jellopy", "iron ore"]
MONSTERS = ["poring", "lunatic", "fabre", "rocker", "orc warrior", "baphomet", "drops"]
NAMES = ["Rolf", "Mina", "Theo", "Kara", "Ulric", "Sana", "Bjorn", "Ilse", "Piet", "Yara"]

DIRECTIONS = ["Where is the {x}?", "Where can I find the {x}?", "How do I get to the {x}?", "Which way to the {x}?",
              "Do you know where the {x} is?", "I'm looking for the {x}.", "Can you tell me the way to the {x}?",
              "Where's the {x}", "how to get to the {x}", "Point me to the {x}, please."]
PRICES = ["How much is a {x}?", "What's the price of a {x}?", "How much for a {x}?", "What does a {x} cost?",
          "Price of {x}?", "How much do you want for a {x}?", "How many zeny for a {x}?"]
MONSTER_HOME = ["Where do {x}s live?", "Where can I hunt {x}s?", "Where are the {x}s?", "Where do I find {x}s?",
                "Best place to farm {x}s?", "Where do {x}s spawn?"]
MONSTER_DANGER = ["Is the {x} dangerous?", "Are {x}s dangerous?", "How strong is a {x}?", "Can I beat a {x}?",
                  "Should I be afraid of {x}s?", "Is a {x} tough?"]
SHOP = ["What do you sell?", "What's for sale?", "Can I see your wares?", "Got anything to sell?",
        "What are you selling?", "Show me your goods.", "What do you have in stock?"]
QUEST = ["Do you have any work for me?", "Need any help?", "Got a job for me?", "Any quests?",
         "Is there anything I can do for you?", "I'm looking for work.", "Do you need a hand with anything?"]
RUMOURS = ["Any news?", "Heard any rumours lately?", "What's new around here?", "Any gossip?",
           "What's happening in town?", "Anything interesting going on?"]
ABOUT = ["Who are you?", "What's your name?", "Tell me about yourself.", "What do you do here?",
         "Who am I talking to?"]
SMALL_TALK = {  # answered by templates, never by an LLM
    "greeting": ["Hi", "Hello!", "Hey there", "Good morning", "Greetings", "Hello there!", "Hiya", "Good evening"],
    "thanks": ["Thanks!", "Thank you", "Thanks a lot", "thx", "Much appreciated, thank you."],
    "farewell": ["Bye", "Goodbye!", "See you", "Farewell", "Take care", "see ya"],
}
LONG_TAIL = ["My friend {n} lost a {i} near the {p}, have you seen it?",
             "Did {n} pass by the {p} with a {i} today?",
             "I traded my {i} to {n} at the {p}, was that a good deal?",
             "{n} says the {p} is haunted because of a cursed {i}. True?",
             "Why would {n} hide a {i} behind the {p}?"]
FILLERS = ["", "", "", "hey, ", "um, ", "excuse me, ", "so ", "quick question: "]
TAILS = ["", "", "", "?", "??", " please", " thanks"]


@dataclass(frozen=True)
class Line:
    text: str
    family: str      # lines of one family mean the same thing
    kind: str        # directions, price, monster_home, monster_danger, shop, quest, rumours, about, small_talk, unique


def _families() -> list[tuple[str, str, list[str], float]]:
    """(family id, kind, paraphrase templates filled in, popularity weight)."""
    families: list[tuple[str, str, list[str], float]] = []

    def add(kind: str, key: str, templates: list[str], weight: float) -> None:
        families.append((f"{kind}:{key}", kind, templates, weight))

    for rank, place in enumerate(PLACES):
        add("directions", place, [t.format(x=place) for t in DIRECTIONS], 6.0 / (rank + 1))
    for rank, item in enumerate(ITEMS):
        add("price", item, [t.format(x=item) for t in PRICES], 4.0 / (rank + 1))
    for rank, monster in enumerate(MONSTERS):
        add("monster_home", monster, [t.format(x=monster) for t in MONSTER_HOME], 2.0 / (rank + 1))
        add("monster_danger", monster, [t.format(x=monster) for t in MONSTER_DANGER], 1.5 / (rank + 1))
    add("shop", "wares", SHOP, 5.0)
    add("quest", "work", QUEST, 5.0)
    add("rumours", "news", RUMOURS, 3.0)
    add("about", "self", ABOUT, 2.0)
    for intent, lines in SMALL_TALK.items():
        add("small_talk", intent, lines, 6.0)
    return families


def _typo(text: str, rng: random.Random) -> str:
    words = text.split()
    candidates = [i for i, w in enumerate(words) if len(w) > 4 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    j = rng.randrange(1, len(words[i]) - 1)
    words[i] = words[i][:j] + words[i][j + 1:]
    return " ".join(words)


def _vary(text: str, rng: random.Random) -> str:
    base = text.rstrip("?.!")
    base = rng.choice(FILLERS) + base + rng.choice(TAILS)
    roll = rng.random()
    if roll < 0.3:
        base = base.lower()
    elif roll < 0.35:
        base = base.upper()
    if rng.random() < 0.1:
        base = _typo(base, rng)
    return base


def generate(n: int, seed: int = 7, unique_share: float = 0.05) -> list[Line]:
    """n lines, deterministic for a seed; `unique_share` of them are one-off long-tail lines."""
    rng = random.Random(seed)
    families = _families()
    weights = [w for *_, w in families]
    lines: list[Line] = []
    for _ in range(n):
        if rng.random() < unique_share:
            template = rng.choice(LONG_TAIL)
            text = template.format(n=rng.choice(NAMES), i=rng.choice(ITEMS), p=rng.choice(PLACES))
            lines.append(Line(text, f"unique:{text}", "unique"))
            continue
        family, kind, templates, _ = rng.choices(families, weights=weights)[0]
        # paraphrases are not equally common either: the first phrasing is the one most players use
        template = rng.choices(templates, weights=[1.0 / (k + 1) for k in range(len(templates))])[0]
        lines.append(Line(_vary(template, rng), family, kind))
    return lines
