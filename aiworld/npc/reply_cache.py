"""Fewer LLM calls for dialogue: an exact cache, a semantic cache and in-flight de-duplication,
shared by every worker through the broker's server.

An entry is keyed by what decides a reply besides the words: the NPC's persona fingerprint and
the player's stance towards it (stranger, known, hostile). Mood is left out on purpose: it drifts
all day, and a reply written in a slightly different mood is still an in-persona answer. Replies
are stored with the player's name replaced by a placeholder, so one player's answer can serve
another. A reply that drew on a player's own memories is stored for that player only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass

import numpy as np

from aiworld.npc import embeddings
from aiworld.npc.safety import normalise
from aiworld.services import kv

TTL_S = 24 * 3600
MAX_SEMANTIC_ENTRIES = 400   # per NPC and bucket: one HGETALL stays well under a millisecond
INFLIGHT_TTL_MS = 20_000     # longer than an LLM call may take (provider timeouts are below this)
PLACEHOLDER = "\x00player\x00"


def semantic_threshold() -> float:
    """Cosine similarity above which a previous line counts as the same question. Chosen with
    bench/dialogue_replay.py (docs/benchmarks.md): higher is safer, lower saves more calls."""
    return float(os.environ.get("AIWORLD_SEMANTIC_THRESHOLD", "0.7"))


def entity_guard() -> bool:
    """A semantic hit also needs the same mentioned items/monsters/places (aiworld.npc.entities)."""
    return os.environ.get("AIWORLD_SEMANTIC_ENTITY_GUARD", "1") != "0"


@dataclass(frozen=True)
class Scope:
    npc_key: str      # NPC id + persona fingerprint + relationship stance
    player_key: str   # the same plus the player, for replies that used the player's memories

    def keys(self) -> tuple[str, str]:
        return self.player_key, self.npc_key


@dataclass(frozen=True)
class Hit:
    reply: dict
    kind: str          # "exact_cache" or "semantic_cache"
    similarity: float
    source_text: str   # the line whose reply is reused (the replay benchmark judges hits with it)


_FILLER = re.compile(r"^(?:(?:hey|hi|um+|uh+|so|ok|okay|well|excuse me|quick question|please|sorry)\b[ ,:]*)+")
_POLITE_TAIL = re.compile(r"(?:\s+(?:please|pls|thanks|thank you|thx))+$")


def canonical(text: str) -> str:
    """What the exact cache compares: case, punctuation, spacing, leading fillers ("hey, um, so")
    and a trailing "please"/"thanks" do not change what a player asks."""
    words = re.sub(r"[^\w\s']", " ", normalise(text))
    words = re.sub(r"\s+", " ", words).strip()
    return _POLITE_TAIL.sub("", _FILLER.sub("", words)).strip() or words


def text_hash(text: str) -> str:
    return hashlib.sha256(canonical(text).encode()).hexdigest()[:32]


def _store_form(reply: dict, player_name: str) -> dict:
    if not player_name:
        return reply
    return {k: v.replace(player_name, PLACEHOLDER) if isinstance(v, str) else v for k, v in reply.items()}


def _load_form(reply: dict, player_name: str) -> dict:
    return {k: v.replace(PLACEHOLDER, player_name) if isinstance(v, str) else v for k, v in reply.items()}


def lookup(scope: Scope, text: str, player_name: str) -> Hit | None:
    client = kv.client()
    digest = text_hash(text)
    pipe = client.pipeline(transaction=False)
    for key in scope.keys():
        pipe.get(f"dlg:x:{key}:{digest}")
    for raw in pipe.execute():
        if raw:
            entry = json.loads(raw)
            return Hit(_load_form(entry["reply"], player_name), "exact_cache", 1.0, entry["text"])
    query = embeddings.embed_one(canonical(text))
    threshold = semantic_threshold()
    candidates: list[tuple[float, bytes]] = []
    pipe = client.pipeline(transaction=False)
    for key in scope.keys():
        pipe.hgetall(f"dlg:s:{key}")
    for entries in pipe.execute():
        if not entries:
            continue
        packed = list(entries.values())
        vectors = np.stack([np.frombuffer(p[:512], dtype=np.float16) for p in packed]).astype(np.float32)
        sims = vectors @ query
        candidates += [(float(sims[i]), packed[i]) for i in np.flatnonzero(sims >= threshold)]
    if not candidates:
        return None
    guard = entity_guard()
    if guard:
        from aiworld.npc.entities import mentions

        wanted = mentions(text)
    for similarity, raw in sorted(candidates, key=lambda c: c[0], reverse=True):
        entry = json.loads(raw[512:])
        if guard and mentions(entry["text"]) != wanted:
            continue  # close words, another place/item/monster: not the same question
        return Hit(_load_form(entry["reply"], player_name), "semantic_cache", similarity, entry["text"])
    return None


def store(scope: Scope, text: str, reply: dict, player_name: str, *, player_specific: bool) -> None:
    key = scope.player_key if player_specific else scope.npc_key
    entry = json.dumps({"text": text, "reply": _store_form(reply, player_name)})
    vector = embeddings.embed_one(canonical(text)).astype(np.float16).tobytes()
    assert len(vector) == 512
    client = kv.client()
    semantic_key = f"dlg:s:{key}"
    pipe = client.pipeline(transaction=False)
    pipe.set(f"dlg:x:{key}:{text_hash(text)}", entry, ex=TTL_S)
    pipe.hset(semantic_key, text_hash(text), vector + entry.encode())
    pipe.expire(semantic_key, TTL_S)
    pipe.hlen(semantic_key)
    size = pipe.execute()[-1]
    if size > MAX_SEMANTIC_ENTRIES:
        victims = client.hrandfield(semantic_key, size - MAX_SEMANTIC_ENTRIES)
        if victims:
            client.hdel(semantic_key, *victims)


def claim(scope: Scope, text: str) -> bool:
    """True: this worker computes the reply; False: an identical request is in flight elsewhere."""
    return bool(kv.client().set(f"dlg:f:{scope.npc_key}:{text_hash(text)}", "1", nx=True, px=INFLIGHT_TTL_MS))


def release(scope: Scope, text: str) -> None:
    kv.client().delete(f"dlg:f:{scope.npc_key}:{text_hash(text)}")


def wait_for(scope: Scope, text: str, player_name: str, timeout_s: float) -> Hit | None:
    """Wait for the worker that claimed an identical request to store its reply."""
    deadline = time.monotonic() + timeout_s
    client = kv.client()
    flight = f"dlg:f:{scope.npc_key}:{text_hash(text)}"
    while time.monotonic() < deadline:
        hit = lookup(scope, text, player_name)
        if hit is not None:
            return Hit(hit.reply, "inflight_dedup", hit.similarity, hit.source_text)
        if not client.exists(flight):
            return lookup(scope, text, player_name)  # the other worker gave up, or just stored it
        time.sleep(0.02)
    return None
