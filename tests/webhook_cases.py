"""The signature checks every webhook test class inherits."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client

from fiko_billing.models import RejectedEvent, WebhookEvent
from fiko_billing.testing.webhooks import post_event, signed_headers

URL = "/billing/stripe/webhook/"


class WebhookSecurityCases:
    """Subclasses provide ``make_event()``; each case must store nothing and answer 400."""

    def make_event(self) -> dict[str, Any]:
        raise NotImplementedError

    @pytest.fixture(autouse=True)
    def _rotating_secrets(self, settings: Any) -> None:
        settings.FIKO_BILLING = {
            **settings.FIKO_BILLING,
            "STRIPE_WEBHOOK_SECRET": ["whsec_current", "whsec_previous"],
            "WEBHOOK_TOLERANCE": 300,
        }

    def _post_raw(self, body: bytes, headers: dict[str, str]) -> Any:
        return Client(enforce_csrf_checks=True).post(
            URL, data=body, content_type="application/json", **headers
        )

    def assert_rejected(self, response: Any, code: str = "invalid_signature") -> None:
        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] == code
        assert WebhookEvent.objects.count() == 0
        assert RejectedEvent.objects.count() == 0  # what Stripe did not sign is never kept

    @pytest.mark.django_db
    def test_missing_signature_header(self) -> None:
        self.assert_rejected(self._post_raw(json.dumps(self.make_event()).encode(), {}))

    @pytest.mark.django_db
    def test_wrong_secret(self) -> None:
        self.assert_rejected(post_event(self.make_event(), secret="whsec_attacker"))

    @pytest.mark.django_db
    def test_rotated_secrets_are_both_accepted(self) -> None:
        assert post_event(self.make_event(), secret="whsec_current").status_code == 200
        assert post_event(self.make_event(), secret="whsec_previous").status_code == 200
        assert WebhookEvent.objects.count() == 2

    @pytest.mark.django_db
    def test_stale_timestamp(self) -> None:
        stale = int(time.time()) - 301
        self.assert_rejected(
            post_event(self.make_event(), secret="whsec_current", timestamp=stale)
        )

    @pytest.mark.django_db
    def test_future_timestamp(self) -> None:
        future = int(time.time()) + 301
        self.assert_rejected(
            post_event(self.make_event(), secret="whsec_current", timestamp=future)
        )

    @pytest.mark.django_db
    def test_tampered_body(self) -> None:
        body = json.dumps(self.make_event()).encode()
        headers = signed_headers(body, secret="whsec_current")
        self.assert_rejected(
            self._post_raw(body.replace(b'"livemode": false', b'"livemode": true'), headers)
        )

    @pytest.mark.django_db
    def test_garbled_header(self) -> None:
        body = json.dumps(self.make_event()).encode()
        self.assert_rejected(self._post_raw(body, {"HTTP_STRIPE_SIGNATURE": "t=abc,v0=zzz"}))

    def assert_signed_but_rejected(self, response: Any, code: str) -> None:
        """Stripe signed it, so a retry brings the same body: 200, recorded, not stored."""
        assert response.status_code == 200, response.content
        assert response.json()["outcome"] == "rejected"
        assert response.json()["error"]["code"] == code
        assert WebhookEvent.objects.count() == 0
        assert RejectedEvent.objects.get().reason == code

    @pytest.mark.django_db
    def test_signed_non_json_body(self) -> None:
        body = b"not json at all"
        response = self._post_raw(body, signed_headers(body, secret="whsec_current"))
        self.assert_signed_but_rejected(response, "invalid_json")

    @pytest.mark.django_db
    def test_signed_json_that_is_not_an_event(self) -> None:
        body = json.dumps({"object": "customer", "id": "cus_1"}).encode()
        response = self._post_raw(body, signed_headers(body, secret="whsec_current"))
        self.assert_signed_but_rejected(response, "invalid_event")
