"""Enabled providers in chain order and one OpenAI client per provider (per process)."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

import openai

from aiworld.models import LLMProvider

log = logging.getLogger("aiworld.llm.providers")

# Local servers (Ollama, vLLM, llama.cpp) ignore the key, but the client refuses to start without one.
PLACEHOLDER_KEY = "no-key-needed"

_lock = threading.Lock()
_clients: dict[tuple, openai.OpenAI] = {}
_warned: set[tuple[int, str]] = set()


@dataclass(frozen=True)
class Usable:
    provider: LLMProvider
    client: openai.OpenAI


@dataclass(frozen=True)
class Skipped:
    provider: LLMProvider
    reason: str


def enabled() -> list[LLMProvider]:
    return list(LLMProvider.objects.filter(enabled=True).order_by("order", "name"))


def api_key(provider: LLMProvider) -> str | None:
    """The key from the environment variable the row names; None when that variable is not set."""
    if not provider.api_key_env:
        return PLACEHOLDER_KEY
    return os.environ.get(provider.api_key_env) or None


def skip_reason(provider: LLMProvider) -> str | None:
    if api_key(provider) is None:
        return f"environment variable {provider.api_key_env} is not set on this worker"
    if provider.kind == LLMProvider.Kind.AZURE and not provider.api_version:
        return "an Azure provider needs api_version"
    return None


def resolve(provider: LLMProvider) -> Usable | Skipped:
    reason = skip_reason(provider)
    if reason is not None:
        if (provider.pk, reason) not in _warned:  # once per process: the LLMCall rows carry every skip
            _warned.add((provider.pk, reason))
            log.warning("LLM provider %s skipped: %s", provider.name, reason)
        return Skipped(provider, reason)
    return Usable(provider, client_for(provider))


def client_for(provider: LLMProvider) -> openai.OpenAI:
    """A cached client; a GM's edit of the row (URL, key variable, timeout) makes a new one.
    The pid is in the key because an HTTP connection pool must not cross a fork."""
    key_value = api_key(provider) or PLACEHOLDER_KEY
    cache_key = (os.getpid(), provider.pk, provider.kind, provider.base_url, provider.api_version, key_value,
                 provider.timeout_s)
    client = _clients.get(cache_key)
    if client is not None:
        return client
    with _lock:
        if cache_key not in _clients:
            _clients[cache_key] = _build(provider, key_value)
        return _clients[cache_key]


def _build(provider: LLMProvider, key_value: str) -> openai.OpenAI:
    # max_retries=0: the chain falls back to the next provider instead of retrying behind our back.
    common = {"api_key": key_value, "timeout": provider.timeout_s, "max_retries": 0}
    if provider.kind == LLMProvider.Kind.AZURE:
        return openai.AzureOpenAI(azure_endpoint=provider.base_url, api_version=provider.api_version, **common)
    return openai.OpenAI(base_url=provider.base_url, **common)
