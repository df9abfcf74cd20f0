"""A local OpenAI-compatible server for tests: real HTTP on 127.0.0.1, scripted behaviours.

POST /v1/chat/completions answers non-streaming JSON with `usage`, or SSE chunks ending with
`data: [DONE]` when `stream` is true (usage in a last chunk when `stream_options.include_usage`).
GET /v1/models lists the model. Unscripted usage is a deterministic approximation: prompt tokens =
whitespace-separated words of every message content + 3 per message; completion tokens = words of
the reply. Replies are cut to `max_tokens` words (finish_reason "length"), as a real server would.
A word is at least one byte, so these counts stay under the chain's byte bound of the prompt.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from aiworld.models import LLMProvider

TOKENS_PER_MESSAGE = 3


@dataclass(frozen=True)
class Reply:
    text: str
    prompt_tokens: int | None = None       # None: the word-count approximation
    completion_tokens: int | None = None
    usage: bool = True                      # False: a reply without a `usage` object


@dataclass(frozen=True)
class Fail:
    status: int = 500
    body: str = '{"error": {"message": "scripted failure", "type": "server_error"}}'
    retry_after: float | None = None        # sent as a Retry-After header (seconds)


@dataclass(frozen=True)
class Hang:
    seconds: float                           # then answers as the responder would (the client is gone)


@dataclass(frozen=True)
class Drop:
    after_words: int = 0                     # streaming: this many words, then the connection closes mid-reply


Step = Reply | Fail | Hang | Drop


def content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def last_user_text(body: dict) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def default_responder(body: dict) -> str:
    text = f"echo: {last_user_text(body)}"
    if (body.get("response_format") or {}).get("type") in ("json_object", "json_schema"):
        return json.dumps({"echo": last_user_text(body)})
    return text


def prompt_words(body: dict) -> int:
    messages = body.get("messages") or []
    return sum(len(content_text(m.get("content")).split()) + TOKENS_PER_MESSAGE for m in messages)


class _Server(ThreadingHTTPServer):
    # socketserver's listen backlog is 5. 16 clients connecting at once (test_llm_budget_concurrency) can
    # overflow it: the kernel drops their SYNs, the clients resend after 1 s, then 2 s more, and a 5 s
    # provider timeout can fail a call. Likely the rare all_failed call that test saw under load (unconfirmed).
    request_queue_size = 128


class FakeLLM:
    """Started by `start()`, stopped by `stop()`; the `fake_llm` fixture does both."""

    def __init__(self, model: str = "fake-model"):
        self.model = model
        self.requests: list[dict] = []
        self.request_paths: list[str] = []      # POST paths with their query, e.g. Azure's deployment URL
        self.responder: Callable[[dict], str | Reply] = default_responder
        self._steps: deque[Step] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-llm", daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def script(self, *steps: Step) -> None:
        with self._lock:
            self._steps.extend(steps)

    def start(self) -> FakeLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes Hang steps
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def chat_requests(self) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if "messages" in r]

    def _received(self, body: dict) -> Step | None:
        with self._lock:
            self.requests.append(body)
            return self._steps.popleft() if self._steps else None

    def _reply_for(self, body: dict) -> Reply:
        answer = self.responder(body)
        return answer if isinstance(answer, Reply) else Reply(answer)


def _handler_for(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes; with Nagle on, the second waits for the client's
            # delayed ACK (~40 ms a reply on Linux loopback).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format, *args) -> None:  # noqa: A002 - quiet test output
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.rstrip("/").endswith("/models"):
                self._json(200, {"object": "list", "data": [{"id": fake.model, "object": "model", "created": 0,
                                                             "owned_by": "fake-llm"}]})
            else:
                self._json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._json(400, {"error": {"message": "body is not JSON"}})
                return
            fake.request_paths.append(self.path)
            if not self.path.split("?")[0].rstrip("/").endswith("/chat/completions"):  # Azure adds ?api-version
                self._json(404, {"error": {"message": f"no route {self.path}"}})
                return
            step = fake._received(body)
            if isinstance(step, Hang):
                fake._stopping.wait(step.seconds)
                step = None
            if isinstance(step, Fail):
                headers = {"Retry-After": str(step.retry_after)} if step.retry_after is not None else {}
                self._send(step.status, step.body.encode(), "application/json", headers)
                return
            if isinstance(step, Drop) and not body.get("stream"):
                self.close_connection = True  # no response at all
                return
            reply = step if isinstance(step, Reply) else fake._reply_for(body)
            try:
                if body.get("stream"):
                    self._stream(body, reply, step.after_words if isinstance(step, Drop) else None)
                else:
                    self._json(200, _completion(body, reply, fake.model))
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and left

        def _stream(self, body: dict, reply: Reply, drop_after: int | None) -> None:
            text, finish, usage = _answer(body, reply)
            ident, model = f"chatcmpl-{uuid.uuid4().hex[:12]}", body.get("model") or fake.model
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()

            def chunk(choices: list, extra: dict | None = None) -> None:
                payload = {"id": ident, "object": "chat.completion.chunk", "created": int(time.time()),
                           "model": model, "choices": choices, **(extra or {})}
                self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())

            chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
            words = text.split(" ")
            for i, word in enumerate(words):
                if drop_after is not None and i >= drop_after:
                    self.wfile.flush()
                    self.close_connection = True
                    return
                piece = word if i == 0 else " " + word
                chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
            chunk([{"index": 0, "delta": {}, "finish_reason": finish}])
            if (body.get("stream_options") or {}).get("include_usage") and usage is not None:
                chunk([], {"usage": usage})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

        def _json(self, status: int, payload: dict) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json", {})

        def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str]) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


def _answer(body: dict, reply: Reply) -> tuple[str, str, dict | None]:
    """The text cut to max_tokens words, the finish reason and the usage object."""
    words = reply.text.split(" ")
    limit = body.get("max_tokens") or body.get("max_completion_tokens")
    finish = "stop"
    if isinstance(limit, int) and len(reply.text.split()) > limit:
        words, finish = reply.text.split()[:limit], "length"
    text = " ".join(words)
    if not reply.usage:
        return text, finish, None
    prompt = reply.prompt_tokens if reply.prompt_tokens is not None else prompt_words(body)
    completion = reply.completion_tokens if reply.completion_tokens is not None else len(text.split())
    return text, finish, {"prompt_tokens": prompt, "completion_tokens": completion,
                          "total_tokens": prompt + completion}


def _completion(body: dict, reply: Reply, default_model: str) -> dict:
    text, finish, usage = _answer(body, reply)
    payload = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
               "model": body.get("model") or default_model,
               "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}]}
    if usage is not None:
        payload["usage"] = usage
    return payload


@pytest.fixture(name="fake_llm")
def fake_llm_fixture() -> Iterator[FakeLLM]:
    """Use with `from tests.support.fake_llm import fake_llm_fixture  # noqa: F401` (or list this module
    in a conftest's pytest_plugins); tests then ask for `fake_llm`."""
    server = FakeLLM().start()
    try:
        yield server
    finally:
        server.stop()


def configure_provider(url: str, *, name: str = "local", order: int = 1, budget_usd: Decimal = Decimal("1"),
                       price_prompt_per_mtok=Decimal("1"), price_completion_per_mtok=Decimal("2"),
                       timeout_s: float = 5.0, model: str = "fake-model", max_output_tokens: int = 300,
                       api_key_env: str = "") -> LLMProvider:
    """An enabled provider row pointing at `url` (a FakeLLM's), with a clean circuit breaker."""
    from aiworld.llm import breaker
    from aiworld.models import LLMProvider

    provider = LLMProvider.objects.create(
        name=name, kind=LLMProvider.Kind.OTHER, order=order, enabled=True, base_url=url, model=model,
        api_key_env=api_key_env, price_prompt_per_mtok=Decimal(price_prompt_per_mtok),
        price_completion_per_mtok=Decimal(price_completion_per_mtok), daily_budget_usd=Decimal(budget_usd),
        timeout_s=timeout_s, max_output_tokens=max_output_tokens)
    breaker.reset(provider.pk)  # ids can repeat across fresh databases; the key server may remember them
    return provider
