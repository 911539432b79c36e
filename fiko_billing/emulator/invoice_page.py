"""The hosted invoice page: what a customer sees at ``hosted_invoice_url``, and pays there.

An open invoice can be paid with a new card, or, when its payment waits for
3D Secure (a renewal charged off session with a card that always asks,
4000 0027 6000 3184), authenticated. Either way the payment intent the
invoice already has is the one confirmed, so ``invoice_payment.paid`` names
it, as at Stripe.
"""

from __future__ import annotations

import copy

from fiko_billing.emulator.cards import AUTHENTICATION_FAILED, Card, CardInputError, read_card
from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.engine import charging, invoicing, lifecycle
from fiko_billing.emulator.formatting import day, money
from fiko_billing.emulator.pages import alert, esc, form, notice_page, page, template
from fiko_billing.emulator.responses import Request, Response
from fiko_billing.emulator.store import Obj

PAY_FORM = """
<form method="post" action="$action">
  $authenticate
  <label for="card_number">Card number</label>
  <input type="text" id="card_number" name="card_number" inputmode="numeric"
         autocomplete="cc-number" placeholder="4242 4242 4242 4242">
  <div class="row">
    <div><label for="card_expiry">Expiry</label>
      <input type="text" id="card_expiry" name="card_expiry" placeholder="MM / YY"></div>
    <div><label for="card_cvc">CVC</label>
      <input type="text" id="card_cvc" name="card_cvc" placeholder="123"></div>
  </div>
  <button type="submit" name="action" value="pay" id="pay">Pay $amount</button>
</form>
"""
AUTHENTICATE = (
    '<p>Your bank asks you to confirm this payment.</p><button type="submit" name="action" '
    'value="authenticate" id="authenticate" class="secondary">Complete authentication</button>'
)


def invoice_get(ctx: Ctx, request: Request, invoice_id: str) -> Response:
    invoice = ctx.store.get("invoice", invoice_id)
    if invoice is None or invoice["status"] == "draft":
        return notice_page(404, "Not found", "This invoice does not exist.")
    return render(ctx, invoice)


def render(
    ctx: Ctx,
    invoice: Obj,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    currency = invoice["currency"]
    rows = [
        f"<tr><td>{esc(line['description'])}</td>"
        f'<td class="amount">{esc(money(line["amount"], currency))}</td></tr>'
        for line in invoice["lines"]["data"]
    ]
    pay = ""
    if invoice["status"] == "open":
        pi = invoicing.open_intent(ctx, invoice)
        waiting = pi is not None and pi["status"] == "requires_action"
        pay = (
            PAY_FORM.replace("$action", esc(f"/invoice/{invoice['id']}"))
            .replace("$authenticate", AUTHENTICATE if waiting else "")
            .replace("$amount", esc(money(invoice["amount_remaining"], currency)))
        )
    body = template("invoice.html").substitute(
        number=esc(invoice["number"] or invoice["id"]),
        status=esc(invoice["status"]),
        created=esc(day(invoice["created"])),
        rows="\n".join(rows),
        amount_due=esc(money(invoice["amount_due"], currency)),
        amount_paid=esc(money(invoice["amount_paid"], currency)),
        message=alert(error) + alert(notice, "notice"),
        pay=pay,
    )
    return page(status, "Invoice", body)


def invoice_post(ctx: Ctx, request: Request, invoice_id: str) -> Response:
    invoice = ctx.store.get("invoice", invoice_id)
    if invoice is None or invoice["status"] == "draft":
        return notice_page(404, "Not found", "This invoice does not exist.")
    if invoice["status"] != "open":
        return render(ctx, invoice, status=409, error="This invoice cannot be paid.")
    values = form(request)
    pi = invoicing.open_intent(ctx, invoice)
    if values.get("action") == "authenticate":
        if pi is None or pi["status"] != "requires_action":
            return render(ctx, invoice, status=409, error="Nothing waits for authentication.")
        return _challenge(ctx, invoice, pi)
    try:
        card = read_card(
            values.get("card_number", ""),
            values.get("card_expiry", ""),
            values.get("card_cvc", ""),
            now=ctx.now(),
        )
    except CardInputError as problem:
        return render(ctx, invoice, status=400, error=str(problem))
    return _pay(ctx, invoice, card)


def _pay(ctx: Ctx, invoice: Obj, card: Card) -> Response:
    pm = charging.save_card(ctx, card, customer=invoice["customer"])
    before = copy.deepcopy(invoice)
    pi = invoicing.intent_for(ctx, invoice)
    outcome = charging.confirm(ctx, pi, pm, off_session=False)
    if outcome.status == charging.REQUIRES_ACTION:
        return _challenge(ctx, invoice, pi)
    if not outcome.ok:
        message = outcome.decline.message if outcome.decline else None
        return render(ctx, invoice, status=402, error=message)
    invoicing.paid(ctx, invoice, pi, before)
    lifecycle.settle(ctx, invoice)
    return render(ctx, invoice, notice="Thank you, this invoice is paid.")


def _challenge(ctx: Ctx, invoice: Obj, pi: Obj) -> Response:
    pm = ctx.store.get("payment_method", pi["payment_method"] or "")
    last4 = pm["card"]["last4"] if pm else "????"
    body = template("three_d_secure.html").substitute(
        amount=esc(money(pi["amount"], pi["currency"])),
        last4=esc(last4),
        action=esc(f"/invoice/{invoice['id']}/3ds"),
    )
    return page(200, "3D Secure", body)


def three_d_secure_post(ctx: Ctx, request: Request, invoice_id: str) -> Response:
    invoice = ctx.store.get("invoice", invoice_id)
    if invoice is None or invoice["status"] != "open":
        return notice_page(404, "Not found", "Nothing waits for authentication.")
    pi = invoicing.open_intent(ctx, invoice)
    pm = ctx.store.get("payment_method", (pi or {}).get("payment_method") or "")
    if pi is None or pm is None or pi["status"] != "requires_action":
        return render(ctx, invoice, status=409, error="Nothing waits for authentication.")
    if form(request).get("outcome") != "complete":
        charging.fail_authentication(ctx, pi, pm)
        return render(ctx, invoice, status=402, error=AUTHENTICATION_FAILED.message)
    before = copy.deepcopy(invoice)
    outcome = charging.confirm(ctx, pi, pm, off_session=False, authenticated=True)
    if not outcome.ok:
        message = outcome.decline.message if outcome.decline else None
        return render(ctx, invoice, status=402, error=message)
    invoicing.paid(ctx, invoice, pi, before)
    lifecycle.settle(ctx, invoice)
    return render(ctx, invoice, notice="Thank you, this invoice is paid.")
