"""The docs name what the code does: every setting, every handled event type."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fiko_billing.conf import DEFAULTS
from fiko_billing.services.events import handled_event_types

DOCS = Path(__file__).resolve().parent.parent / "docs"

pytestmark = pytest.mark.skipif(not DOCS.is_dir(), reason="docs/ is not part of this checkout")


def test_every_setting_is_documented():
    text = (DOCS / "settings.md").read_text()
    missing = [key for key in DEFAULTS if f"`{key}`" not in text]
    assert missing == []


def test_the_webhook_guide_lists_exactly_the_handled_events():
    text = (DOCS / "webhooks.md").read_text()
    block = text.split("and these events:", 1)[1].split("```", 2)[1]
    listed = sorted(re.findall(r"[a-z_]+(?:\.[a-z_]+)+", block))
    assert listed == handled_event_types()


def test_the_react_example_calls_real_endpoints_with_real_fields():
    """The integration example in docs/checkout.md, checked against the URLconf and views."""
    from django.urls import resolve

    text = (DOCS / "checkout.md").read_text()
    example = text.split("```jsx", 1)[1].split("```", 1)[0]
    paths = re.findall(r"fetch\(\s*[`'](/billing/[^`']*)[`']", example)
    assert paths == [
        "/billing/stripe/checkout-session/",
        "/billing/stripe/checkout-session/${sessionId}/",
    ]
    views = [resolve(path.replace("${sessionId}", "cs_test_1")).url_name for path in paths]
    assert views == ["checkout-session", "checkout-session-status"]
    # The request body and the fields read from the answers are the API's.
    assert "plan_type: planType, plan_id: planId" in example
    assert "body.url" in example
    assert "body.fulfilled" in example
    assert "body.error.message" in example


def test_every_logger_is_documented():
    package = DOCS.parent / "fiko_billing"
    names = set()
    for path in package.rglob("*.py"):
        names.update(re.findall(r'getLogger\("(fiko_billing[a-z_.]*)"\)', path.read_text()))
    text = (DOCS / "logging.md").read_text()
    assert sorted(name for name in names if f"`{name}`" not in text) == []
