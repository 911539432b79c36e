"""Disputes and refunds of every kind of payment, with Stripe's events and shapes."""

from __future__ import annotations

import pytest
import stripe

from fiko_billing.emulator import Emulator
from tests.emulator.conftest import Catalogue
from tests.emulator.helpers import events_of, pay, post_json, subscribe

DISPUTE_FEE = 1500


def _package_payment(
    sdk: stripe.StripeClient, catalogue: Catalogue, card: str | None = None
) -> str:
    session = sdk.v1.checkout.sessions.create(
        params={"mode": "payment", "line_items": [{"price": catalogue.pack.id, "quantity": 1}]}
    )
    pay(session.url, **({"card": card} if card else {}))
    pi_id = sdk.v1.checkout.sessions.retrieve(session.id).payment_intent
    assert isinstance(pi_id, str)
    return pi_id


def _renewal_intent(sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator) -> str:
    sub_id = subscribe(sdk, catalogue.monthly.id)
    emulator.advance(days=29)
    invoice = sdk.v1.subscriptions.retrieve(sub_id).latest_invoice
    (payment,) = sdk.v1.invoice_payments.list(params={"invoice": invoice}).data
    return str(payment.payment.payment_intent)


def test_a_dispute_is_opened_with_the_funds_withdrawn(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    pi_id = _package_payment(sdk, catalogue)
    charge_id = sdk.v1.payment_intents.retrieve(pi_id).latest_charge
    since = len(emulator.event_types())
    opened = emulator.open_dispute(charge_id, reason="product_not_received")
    assert emulator.event_types()[since:] == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
    ]
    dispute = sdk.v1.disputes.retrieve(opened["id"])
    assert (dispute.status, dispute.reason, dispute.amount, dispute.currency) == (
        "needs_response",
        "product_not_received",
        990,
        "usd",
    )
    assert (dispute.charge, dispute.payment_intent) == (charge_id, pi_id)
    assert dispute.is_charge_refundable is False
    assert dispute.evidence_details.submission_count == 0
    (withdrawal,) = dispute.balance_transactions
    assert (withdrawal.amount, withdrawal.fee, withdrawal.net) == (-990, DISPUTE_FEE, -2490)
    assert withdrawal.reporting_category == "dispute"
    created, withdrawn = (
        events_of(emulator, t)[-1]["data"]["object"]
        for t in ("charge.dispute.created", "charge.dispute.funds_withdrawn")
    )
    assert created["balance_transactions"] == []
    assert len(withdrawn["balance_transactions"]) == 1
    assert sdk.v1.charges.retrieve(charge_id).disputed is True
    assert [d.id for d in sdk.v1.disputes.list(params={"charge": charge_id}).data] == [dispute.id]
    assert [d.id for d in sdk.v1.disputes.list(params={"payment_intent": pi_id}).data] == [
        dispute.id
    ]


@pytest.mark.parametrize("won", [True, False])
def test_a_dispute_closes_won_or_lost(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator, won: bool
) -> None:
    pi_id = _package_payment(sdk, catalogue)
    opened = emulator.open_dispute(pi_id)
    since = len(emulator.event_types())
    closed = emulator.close_dispute(opened["id"], won=won)
    expected = ["charge.dispute.updated", "charge.dispute.closed"]
    if won:
        expected.append("charge.dispute.funds_reinstated")
    assert emulator.event_types()[since:] == expected
    updated = events_of(emulator, "charge.dispute.updated")[-1]
    assert updated["data"]["object"]["status"] == "under_review"
    assert updated["data"]["previous_attributes"]["status"] == "needs_response"
    assert closed["status"] == ("won" if won else "lost")
    amounts = [t["amount"] for t in closed["balance_transactions"]]
    assert amounts == ([-990, 990] if won else [-990])


def test_a_dispute_closed_without_evidence(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    opened = emulator.open_dispute(_package_payment(sdk, catalogue))
    since = len(emulator.event_types())
    emulator.close_dispute(opened["id"], won=False, submit_evidence=False)
    assert emulator.event_types()[since:] == ["charge.dispute.closed"]


def test_evidence_submitted_through_the_api_decides_as_in_test_mode(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    opened = emulator.open_dispute(_package_payment(sdk, catalogue))
    drafted = sdk.v1.disputes.update(
        opened["id"], params={"evidence": {"product_description": "1000 tokens"}}
    )
    assert (drafted.status, drafted.evidence_details.has_evidence) == ("needs_response", True)
    since = len(emulator.event_types())
    sdk.v1.disputes.update(
        opened["id"],
        params={"evidence": {"uncategorized_text": "winning_evidence"}, "submit": True},
    )
    assert emulator.event_types()[since:] == [
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
    ]
    assert sdk.v1.disputes.retrieve(opened["id"]).status == "won"
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.disputes.close(opened["id"])


def test_accepting_a_dispute_loses_it(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    opened = emulator.open_dispute(_package_payment(sdk, catalogue))
    since = len(emulator.event_types())
    accepted = sdk.v1.disputes.close(opened["id"])
    assert accepted.status == "lost"
    assert emulator.event_types()[since:] == ["charge.dispute.closed"]


def test_a_renewal_payment_can_be_disputed(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    pi_id = _renewal_intent(sdk, catalogue, emulator)
    dispute = emulator.open_dispute(pi_id)
    assert dispute["payment_intent"] == pi_id
    assert dispute["amount"] == 2000
    event = events_of(emulator, "charge.dispute.created")[-1]["data"]["object"]
    # Like a refund, a dispute names only the charge and its payment intent.
    assert (event["charge"], event["payment_intent"]) == (dispute["charge"], pi_id)


def test_card_0259_is_disputed_once_the_payment_is_complete(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    since = len(emulator.event_types())
    _package_payment(sdk, catalogue, card="4000 0000 0000 0259")
    assert emulator.event_types()[since:][-3:] == [
        "checkout.session.completed",
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
    ]
    dispute = events_of(emulator, "charge.dispute.created")[-1]
    assert dispute["request"]["id"] is None  # the bank's doing, not the request's


def test_control_endpoints_open_and_close_disputes(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    pi_id = _package_payment(sdk, catalogue)
    opened = post_json(f"{emulator.url}/_emulator/disputes", {"charge": pi_id, "amount": 500})
    assert opened.status == 200, opened.body
    dispute_id = opened.body.split('"id": "')[1].split('"')[0]
    assert sdk.v1.disputes.retrieve(dispute_id).amount == 500
    again = post_json(f"{emulator.url}/_emulator/disputes", {"charge": pi_id})
    assert again.status == 400
    bad = post_json(f"{emulator.url}/_emulator/disputes/{dispute_id}/close", {"outcome": "maybe"})
    assert bad.status == 400
    closed = post_json(f"{emulator.url}/_emulator/disputes/{dispute_id}/close", {"outcome": "won"})
    assert closed.status == 200
    assert sdk.v1.disputes.retrieve(dispute_id).status == "won"
    unknown = post_json(f"{emulator.url}/_emulator/disputes", {"charge": "ch_nope"})
    assert unknown.status == 400


def test_a_charged_back_charge_cannot_be_refunded(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    pi_id = _package_payment(sdk, catalogue)
    emulator.open_dispute(pi_id)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sdk.v1.refunds.create(params={"payment_intent": pi_id})
    assert refused.value.code == "charge_disputed"


@pytest.mark.parametrize("which", ["first", "renewal"])
def test_refunds_work_on_the_charge_of_any_invoice_payment(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator, which: str
) -> None:
    if which == "first":
        sub_id = subscribe(sdk, catalogue.monthly.id)
        invoice = sdk.v1.subscriptions.retrieve(sub_id).latest_invoice
        (payment,) = sdk.v1.invoice_payments.list(params={"invoice": invoice}).data
        pi_id = payment.payment.payment_intent
    else:
        pi_id = _renewal_intent(sdk, catalogue, emulator)
    charge_id = sdk.v1.payment_intents.retrieve(pi_id).latest_charge
    since = len(emulator.event_types())
    partial = sdk.v1.refunds.create(params={"charge": charge_id, "amount": 500})
    rest = sdk.v1.refunds.create(params={"payment_intent": pi_id})
    assert (partial.amount, rest.amount) == (500, 1500)
    assert (
        emulator.event_types()[since:]
        == [
            "refund.created",
            "charge.refunded",
            "refund.updated",
            "charge.refund.updated",
        ]
        * 2
    )
    refunded = events_of(emulator, "charge.refunded")
    assert [
        (e["data"]["object"]["amount_refunded"], e["data"]["object"]["refunded"]) for e in refunded
    ] == [(500, False), (2000, True)]
    assert refunded[-1]["data"]["previous_attributes"] == {
        "amount_refunded": 500,
        "refunded": False,
    }
    update = events_of(emulator, "refund.updated")[-1]
    card = update["data"]["object"]["destination_details"]["card"]
    assert card["reference_status"] == "available"
    assert (
        update["data"]["previous_attributes"]["destination_details"]["card"]["reference_status"]
        == "pending"
    )
    txn = sdk.v1.balance_transactions.retrieve(rest.balance_transaction)
    assert (txn.amount, txn.type, txn.source) == (-1500, "refund", rest.id)


def test_a_charge_is_updated_when_its_balance_transaction_is_attached(
    sdk: stripe.StripeClient, catalogue: Catalogue, emulator: Emulator
) -> None:
    pi_id = _package_payment(sdk, catalogue)
    charge = sdk.v1.charges.retrieve(sdk.v1.payment_intents.retrieve(pi_id).latest_charge)
    succeeded = events_of(emulator, "charge.succeeded")[-1]["data"]["object"]
    assert succeeded["balance_transaction"] is None
    updated = events_of(emulator, "charge.updated")[-1]["data"]
    assert updated["object"]["balance_transaction"] == charge.balance_transaction
    assert updated["previous_attributes"] == {"balance_transaction": None}
    txn = sdk.v1.balance_transactions.retrieve(charge.balance_transaction)
    assert (txn.amount, txn.fee, txn.type, txn.source) == (990, 59, "charge", charge.id)
