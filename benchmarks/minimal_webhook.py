"""The second ceiling of ``benchmarks.webhooks``: the same server stack serving a webhook
view that does the least any webhook endpoint must do: verify the signature and store
the event with one raw INSERT (in autocommit: one statement, one transaction).

The benchmark serves this URLconf, so the ceiling and fiko-billing's endpoint run in one
server, one process, one run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from fiko_billing.webhooks.signature import WebhookSignatureError, verify
from tests.urls import urlpatterns as test_urlpatterns

PATH = "/bench/minimal-webhook/"
SECRET = "whsec_bench_only"  # noqa: S105 - the benchmark's own deliveries


def insert_statement() -> str:
    """One event row, as fiko-billing's table holds it; a repeated id stores nothing."""
    from fiko_billing.models import WebhookEvent

    table = connection.ops.quote_name(WebhookEvent._meta.db_table)
    payload = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    return (
        f"INSERT INTO {table} (stripe_event_id, type, api_version, livemode, payload, status, "
        f"attempts, failures, waiting_for, last_error, stripe_created, received_at) "
        f"VALUES (%s, %s, %s, %s, {payload}, 'pending', 0, 0, '', '', %s, %s) "
        f"ON CONFLICT (stripe_event_id) DO NOTHING RETURNING id"
    )


@csrf_exempt
def minimal_webhook(request: HttpRequest) -> HttpResponse:
    body = request.body
    try:
        verify(body, request.headers.get("Stripe-Signature"), [SECRET], tolerance=300)
    except WebhookSignatureError:
        return JsonResponse({"error": {"code": "invalid_signature"}}, status=400)
    data = json.loads(body)
    with connection.cursor() as cursor:
        cursor.execute(
            insert_statement(),
            [
                data["id"],
                data["type"],
                data.get("api_version") or "",
                bool(data.get("livemode")),
                body.decode(),
                datetime.fromtimestamp(data["created"], tz=UTC),
                timezone.now(),
            ],
        )
        stored = cursor.fetchone() is not None
    return JsonResponse({"received": True, "outcome": "stored" if stored else "duplicate"})


urlpatterns = [*test_urlpatterns, path(PATH.strip("/") + "/", minimal_webhook)]
