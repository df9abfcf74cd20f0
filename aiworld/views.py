"""Operator endpoints: liveness/readiness and Prometheus metrics."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers, 503 otherwise (for load balancers)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return JsonResponse({"status": "fail", "database": str(exc)}, status=503)
    return JsonResponse({"status": "ok"})


def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if token and request.headers.get("Authorization") != f"Bearer {token}":
        return HttpResponse("metrics need 'Authorization: Bearer <METRICS_TOKEN>'\n", status=401)
    from prometheus_client import CONTENT_TYPE_LATEST

    from aiworld.metrics import render

    return HttpResponse(render(), content_type=CONTENT_TYPE_LATEST)
