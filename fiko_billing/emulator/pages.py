"""Hosted pages: Checkout, its 3D Secure challenge, and hosted invoices.

Plain HTML forms, no JavaScript: a test (or a person) pays by posting the
form. Every value shown is escaped; templates live in ``templates/``.
"""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from string import Template
from urllib.parse import parse_qsl

from fiko_billing.emulator.cards import CardInputError, read_card
from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.engine import checkout_flow
from fiko_billing.emulator.expand import render_line_item
from fiko_billing.emulator.formatting import day, money
from fiko_billing.emulator.responses import Request, Response, html_response, redirect
from fiko_billing.emulator.store import Obj

esc = html.escape


@cache
def template(name: str) -> Template:
    source = resources.files("fiko_billing.emulator").joinpath("templates", name)
    return Template(source.read_text(encoding="utf-8"))


def page(status: int, title: str, body: str) -> Response:
    return html_response(status, template("base.html").substitute(title=esc(title), content=body))


def notice_page(
    status: int, heading: str, text: str, link: tuple[str, str] | None = None
) -> Response:
    anchor = f'<p><a href="{esc(link[0])}">{esc(link[1])}</a></p>' if link else ""
    body = template("message.html").substitute(heading=esc(heading), text=esc(text), link=anchor)
    return page(status, heading, body)


def form(request: Request) -> dict[str, str]:
    return dict(parse_qsl(request.text, keep_blank_values=True))


def alert(text: str | None, kind: str = "error") -> str:
    return f'<p class="{kind}" id="{kind}">{esc(text)}</p>' if text else ""


# ---------------------------------------------------------------------- checkout


def checkout_get(ctx: Ctx, request: Request, session_id: str) -> Response:
    session = ctx.store.get("checkout.session", session_id)
    if session is None:
        return notice_page(404, "Not found", "This Checkout Session does not exist.")
    return _checkout_state(ctx, session) or render_checkout(ctx, session)


def _checkout_state(ctx: Ctx, session: Obj) -> Response | None:
    """The page for a session that can no longer be paid."""
    if session["status"] == "complete":
        target = checkout_flow.success_redirect(session)
        link = (target, "Continue") if target else None
        return notice_page(200, "Payment complete", "This purchase has been paid.", link)
    if session["status"] == "expired":
        link = (session["cancel_url"], "Back") if session["cancel_url"] else None
        return notice_page(
            410, "Session expired", "This Checkout Session is no longer active.", link
        )
    return None


def render_checkout(
    ctx: Ctx,
    session: Obj,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    values = values or {}
    currency = session["currency"]
    rows = []
    for item in ctx.store.hidden(session["id"])["line_items"]:
        line = render_line_item(ctx.store, item)
        interval = (line["price"].get("recurring") or {}).get("interval")
        suffix = f" / {interval}" if interval else ""
        amount = money(line["amount_subtotal"], currency) + suffix
        rows.append(
            f"<tr><td>{esc(line['description'])}</td><td>{line['quantity']}</td>"
            f'<td class="amount">{esc(amount)}</td></tr>'
        )
    quote = checkout_flow.quote(ctx, session)
    discount_row = ""
    if quote.discount:
        names = ", ".join(c["name"] or c["id"] for c, _ in quote.coupons)
        discount_row = (
            f'<tr><td colspan="2">Discount ({esc(names)})</td>'
            f'<td class="amount" id="discount">-{esc(money(quote.discount, currency))}</td></tr>'
        )
    promotion = ""
    applied = [promo for _, promo in quote.coupons if promo is not None]
    if session["allow_promotion_codes"] and applied:
        promotion = (
            f'<p class="notice" id="applied_code">Code <strong>{esc(applied[0]["code"])}</strong> '
            "applied</p>"
            '<button type="submit" name="action" value="remove_code" class="secondary" '
            'id="remove_code">Remove code</button>'
        )
    elif session["allow_promotion_codes"]:
        promotion = (
            '<label for="promotion_code">Promotion code</label>'
            '<div class="row"><div><input type="text" id="promotion_code" name="promotion_code" '
            f'value="{esc(values.get("promotion_code", ""))}"></div><div>'
            '<button type="submit" name="action" value="apply" class="secondary" id="apply">'
            "Apply</button></div></div>"
        )
    cancel = ""
    if session["cancel_url"]:
        cancel = (
            f'<p><a href="{esc(session["cancel_url"])}" id="cancel">Cancel and go back</a></p>'
        )
    mode = session["mode"]
    body = template("checkout.html").substitute(
        heading="Subscribe" if mode == "subscription" else "Pay",
        message=alert(error) + alert(notice, "notice"),
        rows="\n".join(rows),
        discount_row=discount_row,
        total=esc(money(quote.total, currency)),
        action=esc(f"/checkout/{session['id']}"),
        promotion=promotion,
        email=esc(values.get("email") or session["customer_email"] or ""),
        card_number=esc(values.get("card_number", "")),
        card_expiry=esc(values.get("card_expiry", "")),
        card_cvc=esc(values.get("card_cvc", "")),
        name=esc(values.get("name", "")),
        pay_label="Subscribe" if mode == "subscription" else "Pay",
        cancel=cancel,
    )
    return page(status, "Checkout", body)


def checkout_post(ctx: Ctx, request: Request, session_id: str) -> Response:
    session = ctx.store.get("checkout.session", session_id)
    if session is None:
        return notice_page(404, "Not found", "This Checkout Session does not exist.")
    closed = _checkout_state(ctx, session)
    if closed is not None:
        return closed
    values = form(request)
    if values.get("action") == "remove_code":
        checkout_flow.remove_code(ctx, session)
        kept = {k: v for k, v in values.items() if k in ("email", "name")}
        return render_checkout(ctx, session, notice="Promotion code removed.", values=kept)
    if values.get("action") == "apply":
        problem = checkout_flow.apply_code(ctx, session, values.get("promotion_code", ""))
        if problem:
            return render_checkout(ctx, session, status=400, error=problem, values=values)
        return render_checkout(ctx, session, notice="Promotion code applied.", values=values)
    if values.get("promotion_code") and session["allow_promotion_codes"]:
        problem = checkout_flow.apply_code(ctx, session, values["promotion_code"])
        if problem:
            return render_checkout(ctx, session, status=400, error=problem, values=values)
    try:
        card = read_card(
            values.get("card_number", ""),
            values.get("card_expiry", ""),
            values.get("card_cvc", ""),
            now=ctx.now(),
        )
    except CardInputError as problem:
        return render_checkout(ctx, session, status=400, error=str(problem), values=values)
    attempt = checkout_flow.pay(
        ctx, session, card, email=values.get("email") or None, name=values.get("name") or None
    )
    return _after_attempt(ctx, session, attempt, values)


def _after_attempt(
    ctx: Ctx, session: Obj, attempt: checkout_flow.Attempt, values: dict[str, str]
) -> Response:
    if attempt.status == checkout_flow.COMPLETE:
        if attempt.redirect:
            return redirect(attempt.redirect)
        return notice_page(200, "Payment complete", "Thank you, your payment went through.")
    card = checkout_flow.challenged_card(ctx, session)
    if attempt.status == checkout_flow.CHALLENGE and card is not None:
        body = template("three_d_secure.html").substitute(
            amount=esc(money(checkout_flow.quote(ctx, session).total, session["currency"])),
            last4=esc(card.last4),
            action=esc(f"/checkout/{session['id']}/3ds"),
        )
        return page(200, "3D Secure", body)
    safe = {k: v for k, v in values.items() if k in ("email", "name", "promotion_code")}
    return render_checkout(ctx, session, status=402, error=attempt.message, values=safe)


def three_d_secure_post(ctx: Ctx, request: Request, session_id: str) -> Response:
    session = ctx.store.get("checkout.session", session_id)
    if session is None:
        return notice_page(404, "Not found", "This Checkout Session does not exist.")
    closed = _checkout_state(ctx, session)
    if closed is not None:
        return closed
    outcome = form(request).get("outcome")
    attempt = checkout_flow.authenticate(ctx, session, approved=outcome == "complete")
    return _after_attempt(ctx, session, attempt, {})


# ---------------------------------------------------------------------- receipts


def receipt_get(ctx: Ctx, request: Request, charge_id: str) -> Response:
    charge = ctx.store.get("charge", charge_id)
    if charge is None or charge["status"] != "succeeded":
        return notice_page(404, "Not found", "This receipt does not exist.")
    card = charge["payment_method_details"]["card"]
    text = (
        f"{money(charge['amount'], charge['currency'])} paid on {day(charge['created'])} "
        f"with {card['brand'].title()} ending in {card['last4']}."
    )
    if charge["amount_refunded"]:
        text += f" Refunded: {money(charge['amount_refunded'], charge['currency'])}."
    return notice_page(200, "Receipt", text)
