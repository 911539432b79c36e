"""The demo's promotion code, kept where Stripe keeps them (here, the emulator).

Coupons and promotion codes live in Stripe, not in fiko-billing's tables;
Checkout accepts them because ``ALLOW_PROMOTION_CODES`` is on. Every call goes
through fiko-billing's gateway, the one module that talks to Stripe.
"""

from __future__ import annotations

from demo.hints import PROMOTION_CODE, PROMOTION_PERCENT_OFF
from fiko_billing.gateway import (
    StripeGateway,
    StripeResourceMissing,
    get_gateway,
    new_idempotency_key,
)

COUPON_ID = "fiko-demo-20-off"


def ensure_promotion_code(gateway: StripeGateway | None = None) -> tuple[str, bool]:
    """The id of the active ``DEMO20`` promotion code, and whether this call created it."""
    gateway = gateway or get_gateway()
    found = gateway.request(
        "get", "/v1/promotion_codes", {"code": PROMOTION_CODE, "active": "true", "limit": 1}
    )
    if found.get("data"):
        return str(found["data"][0]["id"]), False
    try:
        gateway.request("get", f"/v1/coupons/{COUPON_ID}")
    except StripeResourceMissing:
        gateway.request(
            "post",
            "/v1/coupons",
            {
                "id": COUPON_ID,
                "percent_off": PROMOTION_PERCENT_OFF,
                "duration": "once",
                "name": f"Demo {PROMOTION_PERCENT_OFF}% off",
            },
            idempotency_key=new_idempotency_key("demo-coupon"),
        )
    promotion = gateway.request(
        "post",
        "/v1/promotion_codes",
        {"promotion": {"type": "coupon", "coupon": COUPON_ID}, "code": PROMOTION_CODE},
        idempotency_key=new_idempotency_key("demo-promotion-code"),
    )
    return str(promotion["id"]), True
