"""Shipped translations: the catalogue matches the source, German is complete, and used."""

from __future__ import annotations

import json
import shutil

import pytest
from django.utils import translation

from fiko_billing.models import Subscription, SubscriptionStatus
from scripts import messages
from tests.factories import SubscriberFactory
from tests.resolvers import bearer_client

LOCALE_MIDDLEWARE = "django.middleware.locale.LocaleMiddleware"


@pytest.fixture
def localised(settings):
    middleware = list(settings.MIDDLEWARE)
    middleware.insert(
        middleware.index("django.middleware.common.CommonMiddleware"), LOCALE_MIDDLEWARE
    )
    settings.MIDDLEWARE = middleware
    yield
    # LocaleMiddleware leaves the last request's language active in this thread.
    translation.deactivate()


def test_the_catalogues_are_complete_and_match_the_source():
    assert messages.problems() == []


def test_the_german_catalogue_is_compiled_and_loaded():
    with translation.override("de"):
        assert translation.gettext("Billing is not enabled.") == (
            "Die Abrechnung ist nicht aktiviert."
        )
        assert translation.ngettext(
            "The adjustment applies to this token account:",
            "The adjustment applies to each of these %(counter)s token accounts:",
            3,
        ) == ("Die Anpassung gilt für jedes dieser %(counter)s Token-Konten:")


@pytest.mark.django_db
def test_api_errors_answer_in_the_accept_language(client, localised):
    response = client.get("/billing/account/", headers={"Accept-Language": "de"})

    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "code": "not_authenticated",
            "message": "Es wurden keine Anmeldedaten übermittelt.",
        }
    }
    assert response["Content-Language"] == "de"


@pytest.mark.django_db
def test_api_validation_errors_and_their_fields_translate(client, settings, localised):
    api = bearer_client(client, settings, SubscriberFactory())

    response = api.post(
        "/billing/stripe/checkout-session/",
        {"plan_type": "full", "plan_id": "one"},
        content_type="application/json",
        headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"},
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid_input",
            "message": "„plan_id“ muss eine ganze Zahl sein.",
            "fields": {"plan_id": "Muss eine ganze Zahl sein."},
        }
    }


@pytest.mark.django_db
def test_api_errors_stay_english_for_english_requests(client, localised):
    response = client.get("/billing/account/", headers={"Accept-Language": "en"})

    assert response.json()["error"]["message"] == "Authentication credentials were not provided."


@pytest.mark.django_db
def test_service_errors_translate(client, settings, localised):
    api = bearer_client(client, settings, SubscriberFactory())

    response = api.post(
        "/billing/subscription/resume/",
        {},
        content_type="application/json",
        headers={"Accept-Language": "de"},
    )

    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "no_subscription",
        "message": "Sie haben kein aktives Abonnement.",
    }


@pytest.mark.django_db
def test_entitlement_denials_translate(rf, settings):
    from fiko_billing.access import subscription_required
    from fiko_billing.metering import consumes_tokens
    from tests.resolvers import bearer, use_bearer_resolver

    use_bearer_resolver(settings)
    subscriber = SubscriberFactory()
    request = rf.get("/", headers={"Authorization": bearer(subscriber)})
    view = subscription_required(consumes_tokens(5)(lambda request: None))

    with translation.override("de"):
        denied = view(request)
        short = consumes_tokens(5)(lambda request: None)(request)

    assert json.loads(denied.content)["error"]["message"] == (
        "Dafür ist ein aktives Abonnement erforderlich."
    )
    assert json.loads(short.content)["error"]["message"] == (
        "Dafür werden 5 Tokens benötigt; 0 sind verfügbar."
    )


def test_model_and_field_names_and_choices_translate():
    field = Subscription._meta.get_field

    with translation.override("de"):
        assert str(Subscription._meta.verbose_name_plural) == "Abonnements"
        assert str(field("current_period_end").verbose_name) == "Ende des aktuellen Zeitraums"
        assert str(field("cancel_at_period_end").help_text).startswith("Kündigung beantragt")
        assert str(SubscriptionStatus.PAST_DUE.label) == "Überfällig"


def copied_catalogues(tmp_path, monkeypatch):
    """A copy of the catalogues that ``messages`` checks instead of the real ones."""
    locale = tmp_path / "locale"
    shutil.copytree(messages.LOCALE, locale, ignore=shutil.ignore_patterns("*.mo"))
    monkeypatch.setattr(messages, "LOCALE", locale)
    monkeypatch.setattr(messages, "POT", locale / "django.pot")
    return locale


def test_a_missing_translation_or_a_stale_template_is_reported(tmp_path, monkeypatch):
    locale = copied_catalogues(tmp_path, monkeypatch)
    po = locale / "de" / "LC_MESSAGES" / "django.po"
    po.write_text(
        po.read_text(encoding="utf-8").replace(
            'msgstr "Die Abrechnung ist nicht aktiviert."', 'msgstr ""'
        ),
        encoding="utf-8",
    )
    pot = locale / "django.pot"
    pot.write_text(
        pot.read_text(encoding="utf-8").replace(
            'msgid "No such checkout session."', 'msgid "No such session."'
        ),
        encoding="utf-8",
    )

    found = messages.problems()

    assert any("'Billing is not enabled.' is not translated" in p for p in found)
    assert any("django.pot does not match the source" in p for p in found)
    assert any("No such checkout session." in p for p in found)


def test_a_translation_with_other_placeholders_is_reported(tmp_path, monkeypatch):
    locale = copied_catalogues(tmp_path, monkeypatch)
    po = locale / "de" / "LC_MESSAGES" / "django.po"
    po.write_text(
        po.read_text(encoding="utf-8").replace(
            'msgstr "Sie haben bereits den Tarif %(plan)s."',
            'msgstr "Sie haben bereits den Tarif %(name)s."',
        ),
        encoding="utf-8",
    )

    assert any("You are already on %(plan)s." in p for p in messages.problems())


def test_compiling_writes_a_catalogue_django_reads(tmp_path):
    [compiled] = messages.compile_catalogues(tmp_path)

    assert compiled == tmp_path / "de" / "LC_MESSAGES" / "django.mo"
    assert compiled.read_bytes()[:4] in (b"\xde\x12\x04\x95", b"\x95\x04\x12\xde")
