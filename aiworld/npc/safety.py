"""Player text is untrusted; LLM output is checked before it reaches the game.

Two questions, answered with rules (no model, no network, microseconds):
- `input_problem(text)`: is this player line an attempt to steer the NPC out of persona, make it
  reveal its instructions, or smuggle commands? The dialogue then answers in persona with a
  deflection instead of sending the line to an LLM.
- `output_problem(text)`: may this text be shown by the map server? Anything the game could
  execute (atcommands, script commands, markup), a leaked prompt, links, or banned words is refused;
  the caller uses its template path instead.
"""

from __future__ import annotations

import os
import re
import unicodedata

MAX_PLAYER_TEXT = 500  # characters; longer lines are a clear error to the caller
MAX_OUTPUT_TEXT = 300

# Phrases of prompt-injection attempts, matched on a normalised, lower-case copy.
_INJECTION = [
    r"ignore (all |any |the |your )?(previous|prior|above|earlier) (instructions|prompts?|rules|messages)",
    r"disregard (all |any |the |your )?(previous|prior|above|earlier|system)",
    r"forget (all |everything|your) (instructions|rules|previous|you were told)",
    r"(reveal|show|print|repeat|tell me|what is|what are|output) (me )?(your|the) "
    r"(system )?(prompt|instructions|rules|initial prompt|guidelines)",
    r"\bsystem prompt\b", r"\bdeveloper mode\b", r"\bjailbreak\b", r"\bdo anything now\b", r"\bdan mode\b",
    r"you are (now )?(no longer|not) (an? )?(npc|character)",
    r"(pretend|act|behave) (to be|as if you are|like) (an? )?(ai|assistant|chatgpt|language model|gpt)",
    r"\bas an ai\b", r"\blanguage model\b", r"</?(system|assistant|user)>", r"\[/?inst\]",
    r"new (instructions|rules)\s*:", r"(from now on|henceforth),? you (will|must|are)",
    r"\b(stop|quit|break) (roleplaying|role-playing|being in character|character)\b",
]
_INJECTION_RE = re.compile("|".join(f"(?:{p})" for p in _INJECTION))

# What rAthena would execute or render: atcommands/charcommands at a line start, NPC script
# commands, colour/markup codes, and anything that looks like code or a link.
_EXECUTABLE = [
    r"(^|\s)[@#][a-z]+",  # atcommands; normalise() folds newlines, so any word start counts
    # a script command followed by script syntax (an argument list, a variable, a number and a comma),
    # so that English such as "set off" or "a monster appears" passes
    r"\b(getitem2?|delitem|set|setarray|callfunc|callsub|warp|atcommand|charcommand|unitwarp|monster|"
    r"areamonster|killmonster|getexp|sc_start|percentheal|donpcevent|doevent|enablenpc|disablenpc|query_sql|"
    r"setcell|mes|close|next|menu|select)\b\s*(\(|[.@$]|\"[^\"]*\"\s*,|\d+\s*,)",
    r"\bset\s+[a-z_.@$]\w*\s*,", r"\bzeny\s*[+-]?=", r";\s*(end|close|next)\s*;",
    r"\^[0-9a-f]{6}", r"<\s*/?\s*(script|iframe|img|a|b|i|font|br|div|span|style)\b", r"\{\{|\}\}", r"\$\{",
    r"https?://", r"\bwww\.", r"```",
]
_EXECUTABLE_RE = re.compile("|".join(f"(?:{p})" for p in _EXECUTABLE))

# Leaks: words an in-persona NPC never says about itself.
_LEAK = [r"\bsystem prompt\b", r"\bmy instructions\b", r"\bi am an ai\b", r"\bas an ai\b", r"\blanguage model\b",
         r"\bopenai\b", r"\bchatgpt\b", r"\bgpt-?\d", r"\banthropic\b", r"\bclaude\b", r"\bllm\b",
         r"\byou are [a-z ]{0,30}(npc|character) (named|called)\b", r"\bjson\b", r"\bschema\b"]
_LEAK_RE = re.compile("|".join(f"(?:{p})" for p in _LEAK))

# A short list on purpose: operators extend it (AIWORLD_BANNED_WORDS) with their own community's words.
_BANNED_DEFAULT = ("nigger", "faggot", "retard", "kill yourself", "kys")


def normalise(text: str) -> str:
    """NFKC, lower case, zero-width characters removed, whitespace collapsed: the spelling tricks
    (full-width letters, soft hyphens) that would slip past the patterns."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return re.sub(r"\s+", " ", text).strip().lower()


def banned_words() -> tuple[str, ...]:
    extra = tuple(w.strip().lower() for w in os.environ.get("AIWORLD_BANNED_WORDS", "").split(",") if w.strip())
    return _BANNED_DEFAULT + extra


def _banned(normalised: str) -> str | None:
    for word in banned_words():
        if re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", normalised):
            return f"banned word {word!r}"
    return None


def input_problem(text: str) -> str | None:
    """Why a player's line must not reach an LLM as is (None: it may)."""
    clean = normalise(text)
    match = _INJECTION_RE.search(clean)
    if match:
        return f"prompt injection: {match.group(0)!r}"
    match = _EXECUTABLE_RE.search(clean)
    if match:
        return f"command or markup: {match.group(0).strip()!r}"
    return None


def output_problem(text: str, *, max_length: int = MAX_OUTPUT_TEXT) -> str | None:
    """Why a generated text must not reach the game (None: it may)."""
    if not text or not text.strip():
        return "empty"
    if len(text) > max_length:
        return f"too long ({len(text)} > {max_length} characters)"
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n" for ch in text):
        return "control characters"
    clean = normalise(text)
    for label, pattern in (("command or markup", _EXECUTABLE_RE), ("out of persona", _LEAK_RE)):
        match = pattern.search(clean)
        if match:
            return f"{label}: {match.group(0).strip()!r}"
    return _banned(clean)
