"""The hosted Customer Portal: cancel at period end, resume, switch plan, update card.

It behaves like a portal configured with Stripe's defaults for a new account:
cancellation at the period end, plan switches prorated
(``create_prorations``), and a card update that becomes the default for the
customer and their subscriptions (and pays an overdue invoice at once).
"""

from __future__ import annotations

import copy
from urllib.parse import parse_qsl, quote

from fiko_billing.emulator.cards import CardInputError, read_card
from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.engine import changes, charging, invoicing, lifecycle
from fiko_billing.emulator.formatting import day, money
from fiko_billing.emulator.pages import alert, esc, form, notice_page, page, template
from fiko_billing.emulator.responses import Request, Response, redirect
from fiko_billing.emulator.store import Obj

PRORATION = "create_prorations"


def _session(ctx: Ctx, session_id: str) -> tuple[Obj, Obj] | None:
    session = ctx.store.get("billing_portal.session", session_id)
    if session is None:
        return None
    customer = ctx.store.get("customer", session["customer"])
    if customer is None or customer.get("deleted"):
        return None
    return session, customer


def _subscriptions(ctx: Ctx, customer: Obj) -> list[Obj]:
    return [
        s
        for s in ctx.store.iter("subscription")
        if s["customer"] == customer["id"] and s["status"] in lifecycle.LIVE
    ]


def _alternatives(ctx: Ctx, sub: Obj) -> list[Obj]:
    current = {item["price"]["id"] for item in sub["items"]["data"]}
    return [
        p
        for p in ctx.store.iter("price")
        if p["active"]
        and p["type"] == "recurring"
        and p["currency"] == sub["currency"]
        and p["id"] not in current
        and (ctx.store.get("product", p["product"]) or {}).get("active", False)
    ]


def _price_label(ctx: Ctx, price: Obj) -> str:
    name = invoicing.product_name(ctx, price)
    interval = price["recurring"]["interval"]
    return f"{name}: {money(price['unit_amount'], price['currency'])} / {interval}"


def portal_get(ctx: Ctx, request: Request, session_id: str) -> Response:
    found = _session(ctx, session_id)
    if found is None:
        return notice_page(404, "Not found", "This portal session does not exist.")
    session, customer = found
    query = dict(parse_qsl(request.query))
    return render(ctx, session, customer, notice=query.get("notice"), error=query.get("error"))


def _card_flow(ctx: Ctx, session: Obj) -> bool:
    """Whether the session opens on the card form: ``flow_data.type=payment_method_update``
    until the card is saved (then the flow's ``after_completion`` applies)."""
    flow = session.get("flow") or {}
    done = ctx.store.hidden(session["id"]).get("flow_completed", False)
    return flow.get("type") == "payment_method_update" and not done


def _render_card_flow(
    ctx: Ctx, session: Obj, customer: Obj, *, error: str | None = None
) -> Response:
    pm = _default_card(ctx, customer)
    card = (
        f"{pm['card']['brand'].title()} ending in {pm['card']['last4']}" if pm else "No card saved"
    )
    back = ""
    if session["return_url"]:
        back = f'<p><a href="{esc(session["return_url"])}" id="return">Return</a></p>'
    body = template("portal_card.html").substitute(
        customer=esc(_who(customer)),
        message=alert(error),
        card=esc(card),
        action=esc(f"/portal/{session['id']}"),
        return_link=back,
    )
    return page(400 if error else 200, "Update payment method", body)


def _who(customer: Obj) -> str:
    """The portal's header: the customer's name or email, as Stripe's portal shows them."""
    return str(customer.get("email") or customer.get("name") or "Your account")


def render(
    ctx: Ctx, session: Obj, customer: Obj, *, notice: str | None = None, error: str | None = None
) -> Response:
    if _card_flow(ctx, session):
        return _render_card_flow(ctx, session, customer, error=error)
    action = esc(f"/portal/{session['id']}")
    blocks = []
    for sub in _subscriptions(ctx, customer):
        item = sub["items"]["data"][0]
        end = lifecycle.period_of(sub)[1]
        if sub["cancel_at_period_end"]:
            state = f"Cancels on {day(end)}"
            button = _button(action, sub, "resume", "Resume subscription", "secondary")
        else:
            state = f"Renews on {day(end)}"
            button = _button(action, sub, "cancel", "Cancel at period end", "danger")
        options = "".join(
            f'<option value="{esc(p["id"])}">{esc(_price_label(ctx, p))}</option>'
            for p in _alternatives(ctx, sub)
        )
        switch = ""
        if options:
            switch = (
                f'<form method="post" action="{action}">'
                '<input type="hidden" name="action" value="switch">'
                f'<input type="hidden" name="subscription" value="{esc(sub["id"])}">'
                f'<label for="price-{esc(sub["id"])}">Switch plan</label>'
                f'<select id="price-{esc(sub["id"])}" name="price">{options}</select>'
                '<button type="submit" class="secondary">Switch plan</button></form>'
            )
        blocks.append(
            f'<section class="subscription" id="{esc(sub["id"])}">'
            f"<h2>{esc(_price_label(ctx, item['price']))}</h2>"
            f"<p>Status: <strong>{esc(sub['status'])}</strong> &middot; {esc(state)}</p>"
            f"{button}{switch}</section>"
        )
    if not blocks:
        blocks.append("<p>No active subscriptions.</p>")
    pm = _default_card(ctx, customer)
    card = (
        f"{pm['card']['brand'].title()} ending in {pm['card']['last4']}" if pm else "No card saved"
    )
    back = ""
    if session["return_url"]:
        back = f'<p><a href="{esc(session["return_url"])}" id="return">Return</a></p>'
    body = template("portal.html").substitute(
        customer=esc(_who(customer)),
        message=alert(error) + alert(notice, "notice"),
        subscriptions="\n".join(blocks),
        card=esc(card),
        action=action,
        return_link=back,
    )
    return page(400 if error else 200, "Billing portal", body)


def _button(action: str, sub: Obj, name: str, label: str, style: str) -> str:
    return (
        f'<form method="post" action="{action}">'
        f'<input type="hidden" name="action" value="{name}">'
        f'<input type="hidden" name="subscription" value="{esc(sub["id"])}">'
        f'<button type="submit" class="{style}" id="{name}-{esc(sub["id"])}">{esc(label)}</button>'
        "</form>"
    )


def _default_card(ctx: Ctx, customer: Obj) -> Obj | None:
    pm_id = customer["invoice_settings"]["default_payment_method"]
    if pm_id is None:
        for sub in _subscriptions(ctx, customer):
            pm_id = sub["default_payment_method"] or pm_id
    return ctx.store.get("payment_method", pm_id) if pm_id else None


def portal_post(ctx: Ctx, request: Request, session_id: str) -> Response:
    found = _session(ctx, session_id)
    if found is None:
        return notice_page(404, "Not found", "This portal session does not exist.")
    session, customer = found
    values = form(request)
    action = values.get("action")
    if action == "update_card":
        problem = _update_card(ctx, customer, values)
        if problem is None and _card_flow(ctx, session):
            return _flow_completed(ctx, session)
        return _back(session, "Your card has been updated." if problem is None else None, problem)
    sub = next(
        (s for s in _subscriptions(ctx, customer) if s["id"] == values.get("subscription")), None
    )
    if sub is None:
        return _back(session, None, "This subscription cannot be changed.")
    if action == "cancel" and not sub["cancel_at_period_end"]:
        changes.schedule_cancel(ctx, sub)
        return _back(session, "Your subscription will be canceled at the end of the period.", None)
    if action == "resume" and sub["cancel_at_period_end"]:
        changes.resume(ctx, sub)
        return _back(session, "Your subscription has been renewed.", None)
    if action == "switch":
        price = next((p for p in _alternatives(ctx, sub) if p["id"] == values.get("price")), None)
        if price is None:
            return _back(session, None, "This plan is not available.")
        item = sub["items"]["data"][0]
        changes.switch_price(ctx, sub, item, price, quantity=None, proration_behavior=PRORATION)
        return _back(session, "Your plan has been changed.", None)
    return _back(session, None, "Nothing to do.")


def _flow_completed(ctx: Ctx, session: Obj) -> Response:
    """What ``flow.after_completion`` asks for once the card is saved."""
    ctx.store.hidden(session["id"])["flow_completed"] = True
    after = session["flow"]["after_completion"]
    if after["type"] == "redirect":
        return redirect(after["redirect"]["return_url"])
    if after["type"] == "hosted_confirmation":
        message = (after["hosted_confirmation"] or {}).get("custom_message")
        link = (session["return_url"], "Return") if session["return_url"] else None
        return notice_page(
            200, "Card updated", message or "Your payment method has been updated.", link
        )
    return _back(session, "Your card has been updated.", None)


def _back(session: Obj, notice: str | None, error: str | None) -> Response:
    target = f"/portal/{session['id']}"
    if notice:
        target += "?notice=" + quote(notice)
    elif error:
        target += "?error=" + quote(error)
    return redirect(target)


def _update_card(ctx: Ctx, customer: Obj, values: dict[str, str]) -> str | None:
    try:
        card = read_card(
            values.get("card_number", ""),
            values.get("card_expiry", ""),
            values.get("card_cvc", ""),
            now=ctx.now(),
        )
    except CardInputError as problem:
        return str(problem)
    refused = card.can_be_saved()
    if refused is not None:
        return refused.message
    pm = charging.save_card(ctx, card, customer=customer["id"], email=customer.get("email"))
    before = copy.deepcopy(customer)
    customer["invoice_settings"]["default_payment_method"] = pm["id"]
    ctx.events.updated("customer.updated", before, customer)
    for sub in _subscriptions(ctx, customer):
        previous = copy.deepcopy(sub)
        sub["default_payment_method"] = pm["id"]
        ctx.events.updated("customer.subscription.updated", previous, sub)
        if sub["status"] in ("past_due", "unpaid"):
            # A new card pays the overdue invoice straight away.
            for invoice in list(ctx.store.iter("invoice")):
                if invoice["status"] == "open" and lifecycle.subscription_id(invoice) == sub["id"]:
                    lifecycle.retry(ctx, invoice)
    return None
