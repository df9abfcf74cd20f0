"""The JSON HTTP API for web tools: the same operations as the map server's Celery tasks, called
synchronously, authenticated with per-server keys (`Authorization: Bearer aiw_...`).

POST /api/v1/<operation> with the task's payload as the body; `server` comes from the key (a body
that names another server is refused). Errors: {"ok": false, "error": {"code", "message"}} with
400 (bad input, also kept as a dead letter), 401 (no or unknown key), 403, 404, 405.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from aiworld.errors import PayloadError
from aiworld.npc.operations import OPERATIONS
from aiworld.services import api_keys
from aiworld.services.dead_letters import record_dead_letter

MAX_BODY = 64 * 1024


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"ok": False, "error": {"code": code, "message": message}}, status=status)


@csrf_exempt  # token-authenticated machine API, no cookies
def operation(request: HttpRequest, name: str) -> JsonResponse:
    handler = OPERATIONS.get(name)
    if handler is None:
        return _error(404, "unknown_operation", f"operations: {', '.join(sorted(OPERATIONS))}")
    if request.method != "POST":
        return _error(405, "method_not_allowed", "use POST with a JSON body")
    key = api_keys.authenticate(request.headers.get("Authorization"))
    if key is None:
        return _error(401, "unauthorized", "send 'Authorization: Bearer <API key>' (keys are created by GMs)")
    if len(request.body) > MAX_BODY:
        return _error(400, "body_too_large", f"at most {MAX_BODY} bytes")
    try:
        payload = json.loads(request.body or b"null")
        if not isinstance(payload, dict):
            raise PayloadError("bad_payload", "the body must be a JSON object")
        if payload.setdefault("server", key.server) != key.server:
            return _error(403, "wrong_server", f"this key belongs to server {key.server!r}")
        return JsonResponse(handler(payload))
    except (json.JSONDecodeError, UnicodeDecodeError, PayloadError) as exc:
        error = exc if isinstance(exc, PayloadError) else PayloadError("bad_json", f"body is not JSON: {exc}")
        record_dead_letter(task_name=f"api:{name}", error_code=error.code, error_message=error.message,
                           payload=request.body.decode(errors="replace"), source=key.server)
        return _error(400, error.code, error.message)
