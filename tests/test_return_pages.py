"""The default SUCCESS_URL, CANCEL_URL and PORTAL_RETURN_URL lead to pages that exist."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.template import TemplateDoesNotExist
from django.test import override_settings
from django.urls import resolve

from fiko_billing import pages
from fiko_billing.conf import DEFAULTS

MOUNT = "/billing/"  # the documented mount, as in tests/urls.py


@pytest.mark.parametrize(
    ("key", "view", "text"),
    [
        ("SUCCESS_URL", pages.checkout_success, "Payment received"),
        ("CANCEL_URL", pages.checkout_canceled, "Nothing was charged."),
        ("PORTAL_RETURN_URL", pages.portal_return, "Back from the billing portal"),
    ],
)
@pytest.mark.django_db
def test_each_default_return_url_is_a_page_under_the_documented_mount(client, key, view, text):
    url = urlsplit(DEFAULTS[key].replace("{CHECKOUT_SESSION_ID}", "cs_test_a1"))
    assert url.path.startswith(MOUNT)
    assert resolve(url.path).func is view
    response = client.get(f"{url.path}?{url.query}")
    assert response.status_code == 200
    assert text in response.content.decode()


@pytest.mark.django_db
def test_the_success_page_polls_the_status_of_its_checkout_only(client):
    page = client.get("/billing/return/checkout-success/?session_id=cs_test_a1").content.decode()
    assert '"/billing/stripe/checkout-session/cs_test_a1/"' in page
    page = client.get('/billing/return/checkout-success/?session_id=cs_x"><b>').content.decode()
    assert "<script>" not in page
    assert "<b>" not in page


@pytest.mark.django_db
def test_a_project_overrides_a_page_with_a_template_of_the_same_name(client, tmp_path):
    folder = tmp_path / "fiko_billing" / "pages"
    folder.mkdir(parents=True)
    (folder / "checkout_canceled.html").write_text("Our own page")
    with override_settings(
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [str(tmp_path)],
                "APP_DIRS": True,
            }
        ]
    ):
        response = client.get("/billing/return/checkout-canceled/")
    assert response.content == b"Our own page"


def test_the_templates_are_named_after_the_pages():
    from django.template.loader import get_template

    for name in ("checkout_success", "checkout_canceled", "portal_return"):
        try:
            get_template(f"fiko_billing/pages/{name}.html")
        except TemplateDoesNotExist:  # pragma: no cover - the failure itself
            pytest.fail(name)
