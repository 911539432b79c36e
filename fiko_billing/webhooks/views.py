"""``POST stripe/webhook/``: verify, store once, process (or enqueue), answer Stripe."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from fiko_billing.api import error_response
from fiko_billing.conf import billing_settings
from fiko_billing.exceptions import InvalidInput
from fiko_billing.inputs import request_body
from fiko_billing.services.events import EventShapeError, Outcome, receive, store_event
from fiko_billing.webhooks.signature import WebhookSignatureError, verify
from fiko_billing.webhooks.validation import EventRejected, parse_event, record_rejected

logger = logging.getLogger("fiko_billing.webhooks")


@csrf_exempt
@transaction.non_atomic_requests
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stripe retries anything but a 2xx, so: 400 for what Stripe did not sign,
    200 ``rejected`` (recorded) for a signed body that is no usable event (a
    retry cannot fix it), 500 when processing failed (a retry can).

    An event that waits for its cause (a refund before its payment) is stored
    and answered 200 ``"waiting"``: Stripe need not retry it, it runs again by
    itself as soon as the cause is recorded (and ``process_webhook_events``
    retries it). A ``dead`` event (set aside after too many failures) is
    answered 200 too: retrying cannot help, a person must look at it.
    """
    refusal = _refuse_unverified(request)
    if refusal is not None:
        return refusal
    payload = request.body  # read (and size-checked) by the signature check
    try:
        data = parse_event(payload)
        if billing_settings.WEBHOOK_PROCESSING == "task":
            stored = store_event(data)
        else:
            outcome = receive(data)
    except (EventRejected, EventShapeError) as exc:
        return _record_rejection(payload, exc)
    if billing_settings.WEBHOOK_PROCESSING == "task":
        from fiko_billing.tasks import enqueue_event

        if stored.to_process:
            enqueue_event(stored.event.pk)
        return JsonResponse({"received": True, "outcome": Outcome.QUEUED})
    if outcome == Outcome.FAILED:
        return error_response(500, "processing_failed", "The event could not be processed.")
    return JsonResponse({"received": True, "outcome": outcome})


def _refuse_unverified(request: HttpRequest) -> HttpResponse | None:
    """The error response for a request that is not a POST signed with our secret."""
    if request.method != "POST":
        response = error_response(
            405, "method_not_allowed", f"{request.method} is not allowed here; use POST."
        )
        response["Allow"] = "POST"
        return response
    secrets = billing_settings.STRIPE_WEBHOOK_SECRET
    if not secrets:
        logger.error("webhook received but FIKO_BILLING['STRIPE_WEBHOOK_SECRET'] is not set")
        return error_response(
            503, "webhook_secret_missing", "The webhook signing secret is not configured."
        )
    try:
        body = request_body(request)
    except InvalidInput as exc:
        # Unread, the body may be anyone's: a WARNING, as for a bad signature,
        # not an ERROR anyone could flood.
        logger.warning(
            "webhook refused: the body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE "
            "(%s bytes); raise the setting if Stripe sends events this large",
            settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
        )
        return error_response(400, exc.code, str(exc))
    try:
        verify(
            body,
            request.headers.get("Stripe-Signature"),
            secrets,
            tolerance=billing_settings.WEBHOOK_TOLERANCE,
        )
    except WebhookSignatureError as exc:
        logger.warning("webhook rejected: %s", exc)
        return error_response(400, "invalid_signature", str(exc))
    return None


def _record_rejection(payload: bytes, exc: EventRejected | EventShapeError) -> HttpResponse:
    # Signed by Stripe, so a retry would bring the same body: answer 2xx.
    rejection = exc if isinstance(exc, EventRejected) else EventRejected("invalid_event", str(exc))
    record_rejected(payload, rejection)
    return JsonResponse(
        {
            "received": True,
            "outcome": Outcome.REJECTED,
            "error": {"code": rejection.code, "message": str(rejection)},
        }
    )


stripe_webhook.allowed_methods = ("POST",)  # type: ignore[attr-defined]
stripe_webhook.declared_statuses = frozenset({200, 400, 405, 500, 503})  # type: ignore[attr-defined]
