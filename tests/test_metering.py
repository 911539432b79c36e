"""consumes_tokens(n): reserve before, settle on 2xx, release on failure only when asked."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import timezone

from fiko_billing import tokens
from fiko_billing.metering import consumes_tokens
from fiko_billing.models import EntryKind, ReservationStatus, TokenEntry, TokenReservation
from tests.factories import SubscriberFactory
from tests.resolvers import bearer, use_bearer_resolver
from tests.test_entitlements import other_model_instance
from tests.test_tokens_concurrency import assert_ledger_consistent, run_together

calls: list[str] = []


class Boom(Exception):
    pass


@pytest.fixture(autouse=True)
def _bearer(settings):
    use_bearer_resolver(settings)
    calls.clear()


@pytest.fixture
def funded(db):
    subscriber = SubscriberFactory()
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_funded")
    return subscriber


def request_as(subscriber=None, key=None):
    headers = {}
    if subscriber is not None:
        headers["Authorization"] = bearer(subscriber)
    if key is not None:
        headers["Idempotency-Key"] = key
    return RequestFactory().post("/summarise/", headers=headers)


def answering(status=200, *, raises=False, **options):
    @consumes_tokens(30, **options)
    def summarise(request):
        calls.append("ran")
        if raises:
            raise Boom
        return HttpResponse(status=status)

    return summarise


def body(response):
    return json.loads(response.content)


def reservation():
    return TokenReservation.objects.get()


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_a_2xx_answer_spends_the_tokens(funded, status, django_assert_max_num_queries):
    view = answering(status)
    request = request_as(funded, key="req-1")

    # The resolver's 1, then reserve's 10 and settle's 4 statements, each of the
    # two in a transaction (a savepoint and its release inside the test's).
    with django_assert_max_num_queries(19):
        response = view(request)

    assert response.status_code == status
    assert calls == ["ran"]
    assert tokens.balance(funded) == 70
    held = reservation()
    assert (held.status, held.settled_amount, held.reference) == (
        ReservationStatus.SETTLED,
        30,
        "summarise:req-1",
    )
    assert held.description == "summarise"
    assert_ledger_consistent(funded)


@pytest.mark.parametrize("status", [199, 302, 400, 404, 500, 503])
def test_a_failure_spends_the_tokens_unless_asked(funded, status):
    response = answering(status)(request_as(funded))

    assert response.status_code == status
    assert tokens.balance(funded) == 70
    assert reservation().status == ReservationStatus.SETTLED


@pytest.mark.parametrize("status", [302, 400, 500])
def test_release_on_failure_gives_the_tokens_back(funded, status):
    response = answering(status, release_on_failure=True)(request_as(funded))

    assert response.status_code == status
    assert calls == ["ran"]
    assert tokens.balance(funded) == 100
    assert reservation().status == ReservationStatus.RELEASED
    assert_ledger_consistent(funded)


def test_release_on_failure_still_spends_on_success(funded):
    answering(201, release_on_failure=True)(request_as(funded))

    assert tokens.balance(funded) == 70


def test_an_exception_spends_the_tokens_unless_asked_and_propagates(funded):
    with pytest.raises(Boom):
        answering(raises=True)(request_as(funded))
    assert tokens.balance(funded) == 70

    with pytest.raises(Boom):
        answering(raises=True, release_on_failure=True)(request_as(funded))
    assert tokens.balance(funded) == 70
    assert sorted(TokenReservation.objects.values_list("status", flat=True)) == [
        ReservationStatus.RELEASED,
        ReservationStatus.SETTLED,
    ]


def test_too_few_tokens_is_402_and_the_view_does_not_run(funded):
    tokens.consume(funded, 80)

    response = answering()(request_as(funded))

    assert response.status_code == 402
    assert body(response) == {
        "error": {
            "code": "insufficient_tokens",
            "message": "This needs 30 tokens; 20 are available.",
        }
    }
    assert calls == []
    assert tokens.balance(funded) == 20
    assert not TokenReservation.objects.exists()


def test_a_debt_shows_as_nothing_available(funded):
    tokens.revoke(funded, 150, reference="re_1")

    response = answering()(request_as(funded))

    assert body(response)["error"]["message"] == "This needs 30 tokens; 0 are available."


@pytest.mark.parametrize("release_on_failure", [False, True])
@pytest.mark.parametrize("first_status", [200, 500])
def test_a_repeated_idempotency_key_is_409_and_spends_nothing_more(
    funded, release_on_failure, first_status
):
    view = answering(first_status, release_on_failure=release_on_failure)
    view(request_as(funded, key="retry-me"))
    balance_after_first = tokens.balance(funded)

    again = view(request_as(funded, key="retry-me"))

    assert again.status_code == 409
    assert body(again)["error"]["code"] == "duplicate_request"
    assert calls == ["ran"]
    assert tokens.balance(funded) == balance_after_first
    assert TokenReservation.objects.count() == 1


def test_the_same_key_on_another_view_or_by_another_subscriber_is_its_own_request(funded):
    other = SubscriberFactory()
    tokens.credit(other, 100, kind="purchase", reference="cs_other")
    first = answering()
    second = consumes_tokens(30)(lambda request: HttpResponse())

    assert first(request_as(funded, key="k")).status_code == 200
    assert second(request_as(funded, key="k")).status_code == 200
    assert first(request_as(other, key="k")).status_code == 200

    assert (tokens.balance(funded), tokens.balance(other)) == (40, 70)


def test_without_a_key_each_request_is_charged(funded):
    view = answering()

    view(request_as(funded))
    view(request_as(funded))

    assert tokens.balance(funded) == 40
    references = TokenReservation.objects.values_list("reference", flat=True)
    assert len(set(references)) == 2


@pytest.mark.parametrize("key", ["", "x" * 129, "caf\u00e9", "a\x00b", "tab\tkey"])
def test_an_invalid_idempotency_key_is_400(funded, key):
    request = request_as(funded)
    request.META["HTTP_IDEMPOTENCY_KEY"] = key

    response = answering()(request)

    assert response.status_code == 400
    assert body(response)["error"]["code"] == "invalid_idempotency_key"
    assert calls == []
    assert tokens.balance(funded) == 100


@pytest.mark.django_db
def test_no_subscriber_is_401():
    response = answering()(request_as(None))

    assert response.status_code == 401
    assert body(response)["error"]["code"] == "not_authenticated"
    assert calls == []


@pytest.mark.django_db
def test_a_resolver_answering_another_model_never_spends_its_namesakes_tokens(settings):
    subscriber = SubscriberFactory()
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")
    stranger = other_model_instance()
    settings.FIKO_BILLING = {
        **settings.FIKO_BILLING,
        "SUBSCRIBER_RESOLVER": "tests.test_access.resolve_stranger",
    }
    from tests.test_access import resolved

    resolved.append(stranger)

    with pytest.raises(ImproperlyConfigured, match="returned an unusable subscriber"):
        answering()(request_as(None))
    assert tokens.balance(subscriber) == 100
    assert calls == []


@pytest.mark.parametrize("amount", [0, -1, 1.5, True, "3"])
def test_the_amount_must_be_a_positive_int(amount):
    with pytest.raises(ValueError, match="positive int"):
        consumes_tokens(amount)


@pytest.mark.parametrize("prefix", ["reserve", "release", "expiry", "reservation", "", "x" * 101])
def test_a_prefix_that_cannot_make_a_reference_is_refused(prefix):
    with pytest.raises(ValueError, match="prefix"):
        consumes_tokens(1, reference_prefix=prefix)(lambda request: HttpResponse())


def test_a_view_named_like_a_ledger_reference_needs_a_prefix():
    def reserve(request):
        return HttpResponse()

    with pytest.raises(ValueError, match="collides"):
        consumes_tokens(1)(reserve)
    assert consumes_tokens(1, reference_prefix="booking")(reserve).__name__ == "reserve"


def test_async_views_are_refused():
    async def view(request):
        return HttpResponse()

    with pytest.raises(TypeError, match="sync views only"):
        consumes_tokens(1)(view)


def test_the_ledger_tells_what_was_spent(funded):
    answering(description="Summary of a document")(request_as(funded, key="doc-9"))

    [entry] = TokenEntry.objects.filter(kind=EntryKind.RESERVE)
    assert (entry.amount, entry.reference, entry.description) == (
        -30,
        "reserve:summarise:doc-9",
        "Summary of a document",
    )


def test_a_view_that_outlives_its_hold_keeps_its_answer_and_is_not_charged(funded, caplog):
    @consumes_tokens(30)
    def slow(request):
        # As if RESERVATION_TIMEOUT passed while the view worked.
        TokenReservation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        return HttpResponse("done")

    response = slow(request_as(funded))

    assert (response.status_code, response.content) == (200, b"done")
    assert tokens.balance(funded) == 100
    assert reservation().status == ReservationStatus.EXPIRED
    assert "expired before the view answered" in caplog.text
    assert_ledger_consistent(funded)


def test_reserve_says_when_it_returned_an_earlier_hold(funded):
    first = tokens.reserve(funded, 30, reference="job_1")
    again = tokens.reserve(funded, 30, reference="job_1")
    first.settle(30)
    after_settling = tokens.reserve(funded, 30, reference="job_1")

    assert (first.reused, again.reused, after_settling.reused) == (False, True, True)
    assert again == first == after_settling
    assert tokens.balance(funded) == 70


# --------------------------------------------------------------------------- concurrency


def _concurrent(subscriber, keys, view):
    def work(i):
        return view(request_as(subscriber, key=keys[i])).status_code

    outcomes = run_together(work, threads=len(keys))
    assert [o.errors for o in outcomes] == [[] for _ in outcomes]
    return sorted(o.results[0] for o in outcomes)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_of_one_request_run_the_view_once_and_pay_once():
    subscriber = SubscriberFactory()
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")

    statuses = _concurrent(subscriber, ["same"] * 6, answering())

    assert statuses == [200] + [409] * 5
    assert calls == ["ran"]
    assert tokens.balance(subscriber) == 70
    assert_ledger_consistent(subscriber)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_never_spend_more_than_the_balance():
    subscriber = SubscriberFactory()
    tokens.credit(subscriber, 100, kind="purchase", reference="cs_1")

    statuses = _concurrent(subscriber, [f"k{i}" for i in range(8)], answering())

    assert statuses == [200] * 3 + [402] * 5
    assert len(calls) == 3
    assert tokens.balance(subscriber) == 10
    assert_ledger_consistent(subscriber)
    assert connection.vendor == "postgresql"
