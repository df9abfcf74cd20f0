"""One HTTP request to one provider, classified: the chain decides what to do with the outcome."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import SimpleNamespace

import httpx
import openai
from billiard.exceptions import SoftTimeLimitExceeded

from aiworld.llm import sdk_models

log = logging.getLogger("aiworld.llm.attempt")
sdk_models.build_chat_models()  # before any thread parses a reply: the SDK's lazy build is not thread safe

# Errors caused by this request (too long, malformed): the next provider may take it, but they say
# nothing about the provider's health, so they do not count towards its circuit breaker.
REQUEST_ERROR_STATUSES = frozenset({400, 413, 422})


@dataclass(frozen=True)
class Attempt:
    outcome: str                     # ok, error, timeout, rate_limited, invalid
    text: str = ""
    model: str = ""
    prompt_tokens: int | None = None  # None: the provider reported no usage
    completion_tokens: int | None = None
    latency_ms: float = 0.0
    error: str = ""
    provider_fault: bool = False     # counts towards the circuit breaker
    retry_after_s: float | None = None
    delivered: bool = False          # streaming: some text already reached the caller

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


def call(client: openai.OpenAI, *, model: str, messages: list[dict], max_tokens: int, temperature: float,
         json_mode: bool, on_delta: Callable[[str], None] | None = None) -> Attempt:
    kwargs: dict = {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": temperature}
    if json_mode:
        kwargs["response_format"] = {"type": "json_object"}
    if on_delta is not None:
        kwargs.update(stream=True, stream_options={"include_usage": True})
    started = time.perf_counter()
    try:
        response = client.chat.completions.create(**kwargs)
    except openai.APITimeoutError as exc:  # before APIConnectionError, its base class
        return _failed("timeout", exc, started)
    except openai.RateLimitError as exc:
        return _failed("rate_limited", exc, started, retry_after_s=retry_after(exc.response))
    except openai.APIStatusError as exc:
        return _failed("error", exc, started, provider_fault=exc.status_code not in REQUEST_ERROR_STATUSES)
    except openai.APIResponseValidationError as exc:
        return _failed("invalid", exc, started)
    except openai.OpenAIError as exc:  # connection refused/reset and the like
        return _failed("error", exc, started)
    except ValueError as exc:  # a 200 whose body is not JSON
        return _failed("invalid", exc, started)
    except SoftTimeLimitExceeded:
        raise  # the task must stop; the chain charges the worst case for the interrupted request
    except Exception as exc:  # a client bug must cost this call, not the worker
        log.exception("unexpected error from the OpenAI client")
        return _failed("error", exc, started)
    if on_delta is not None:  # outside the try above: an exception of the caller's callback is the caller's
        return _consume(response, on_delta, json_mode, started)
    return _parse(response, json_mode, (time.perf_counter() - started) * 1000)


def _failed(outcome: str, exc: Exception, started: float, *, provider_fault: bool = True,
            retry_after_s: float | None = None) -> Attempt:
    return Attempt(outcome=outcome, latency_ms=(time.perf_counter() - started) * 1000,
                   error=f"{type(exc).__name__}: {exc}", provider_fault=provider_fault, retry_after_s=retry_after_s)


def _consume(stream, on_delta: Callable[[str], None], json_mode: bool, started: float) -> Attempt:
    """Read an SSE stream, handing each piece of text to the caller; usage comes in the last chunk."""
    parts: list[str] = []
    usage, model, finished = None, "", False
    try:
        for chunk in stream:
            model = model or str(getattr(chunk, "model", "") or "")
            usage = getattr(chunk, "usage", None) or usage
            for choice in getattr(chunk, "choices", None) or []:
                finished = finished or bool(getattr(choice, "finish_reason", None))
                piece = getattr(getattr(choice, "delta", None), "content", None)
                if piece:
                    parts.append(piece)
                    on_delta(piece)
    except httpx.TimeoutException as exc:
        return replace(_failed("timeout", exc, started), delivered=bool(parts))
    except (httpx.HTTPError, openai.APIError, json.JSONDecodeError) as exc:
        return replace(_failed("error", exc, started), delivered=bool(parts))
    finally:
        stream.close()
    if not finished:  # a connection closed mid-reply can end the SSE body without an error
        return Attempt("invalid", error="the stream ended without a finish_reason", provider_fault=True,
                       latency_ms=(time.perf_counter() - started) * 1000, delivered=bool(parts))
    # Shaped like a non-streaming response, so one parser validates both.
    joined = SimpleNamespace(usage=usage, model=model,
                             choices=[SimpleNamespace(message=SimpleNamespace(content="".join(parts)))])
    return replace(_parse(joined, json_mode, (time.perf_counter() - started) * 1000), delivered=bool(parts))


def _parse(response: object, json_mode: bool, latency_ms: float) -> Attempt:
    usage = getattr(response, "usage", None)
    prompt_tokens = getattr(usage, "prompt_tokens", None)
    completion_tokens = getattr(usage, "completion_tokens", None)
    if not isinstance(prompt_tokens, int) or not isinstance(completion_tokens, int):
        prompt_tokens = completion_tokens = None
    common = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "latency_ms": latency_ms,
              "model": str(getattr(response, "model", "") or "")}
    choices = getattr(response, "choices", None)
    if not choices:
        return Attempt("invalid", error=f"no choices in the response: {str(response)[:300]}", provider_fault=True,
                       **common)
    text = getattr(getattr(choices[0], "message", None), "content", None)
    if not isinstance(text, str) or not text.strip():
        return Attempt("invalid", error="empty reply", provider_fault=True, **common)
    if json_mode:
        try:
            json.loads(text)
        except ValueError:
            return Attempt("invalid", error=f"JSON asked, got: {text[:300]}", provider_fault=True, **common)
    return Attempt("ok", text=text, **common)


def retry_after(response: object) -> float | None:
    """Seconds from Retry-After / retry-after-ms (HTTP dates are rare from APIs and ignored)."""
    headers = getattr(response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        if seconds > 0:
            return seconds
    return None
