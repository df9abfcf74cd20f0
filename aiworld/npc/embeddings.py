"""Local sentence embeddings: WordLlama's 256-d model, whose weights and tokenizer ship inside the
`wordllama` wheel. Loaded from the package folder directly, because `WordLlama.load()` looks for
the tokenizer in the wrong folder and then tries Hugging Face (no network in production or CI)."""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from aiworld.models.npc import EMBEDDING_DIM

_lock = threading.Lock()
_model = None


def _load():
    global _model
    with _lock:
        if _model is None:
            import wordllama
            from safetensors import safe_open
            from tokenizers import Tokenizer
            from wordllama.inference import WordLlamaInference

            root = Path(wordllama.__file__).parent
            tokenizer = Tokenizer.from_file(str(root / "tokenizers" / "l2_supercat_tokenizer_config.json"))
            with safe_open(str(root / "weights" / "l2_supercat_256.safetensors"), framework="np") as f:
                table = f.get_tensor("embedding.weight")
            assert table.shape[1] == EMBEDDING_DIM, table.shape
            _model = WordLlamaInference(table, tokenizer)
    return _model


def embed(texts: list[str]) -> np.ndarray:
    """float32[len(texts), 256], each row of unit length (cosine similarity = dot product)."""
    if not texts:
        return np.zeros((0, EMBEDDING_DIM), np.float32)
    vectors = np.asarray(_load().embed(list(texts)), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


@lru_cache(maxsize=4096)
def _embed_cached(text: str) -> bytes:
    return embed([text])[0].tobytes()


def embed_one(text: str) -> np.ndarray:
    """One text, through an in-process cache keyed by the text (repeated lines are common in chat)."""
    return np.frombuffer(_embed_cached(text), dtype=np.float32)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b))
