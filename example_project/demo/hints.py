"""The demo's fixed values: its login, ports, emulator keys, test cards and promotion code.

Plain data without Django imports, so the settings and ``scripts/demo.py``
share them and the script prints the same facts the billing page shows.
"""

from __future__ import annotations

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 - a local demo account, printed on purpose

#: A second customer, to see that accounts are kept apart; the page's
#: "Switch to ..." button changes between the two without a password.
ALICE_USERNAME = "alice"
ALICE_PASSWORD = "alice"  # noqa: S105 - a local demo account, printed on purpose

#: (username, password) of every seeded demo user, the superuser first.
DEMO_USERS: tuple[tuple[str, str], ...] = (
    (DEMO_USERNAME, DEMO_PASSWORD),
    (ALICE_USERNAME, ALICE_PASSWORD),
)

#: The demo's API token: ``Authorization: Bearer demo-token`` acts as the demo user.
DEMO_API_TOKEN = "demo-token"  # noqa: S105 - a local demo credential, printed on purpose

DEFAULT_DEMO_PORT = 8000
DEFAULT_EMULATOR_PORT = 12111

#: The keys the demo's Stripe emulator is started with (it refuses any other
#: secret key, as Stripe does); obvious test values.
EMULATOR_SECRET_KEY = "sk_test_emulator"  # noqa: S105
EMULATOR_PUBLISHABLE_KEY = "pk_test_emulator"
EMULATOR_WEBHOOK_SECRET = "whsec_emulator_demo"  # noqa: S105

PROMOTION_CODE = "DEMO20"
PROMOTION_PERCENT_OFF = 20

#: (number, what it does) for the cards the Stripe emulator knows.
TEST_CARDS: tuple[tuple[str, str], ...] = (
    ("4242 4242 4242 4242", "succeeds"),
    ("4000 0025 0000 3155", "asks for 3D Secure, then succeeds or fails as you choose"),
    ("4000 0000 0000 9995", "is declined (insufficient funds)"),
    ("4000 0000 0000 0341", "pays at Checkout, then fails at renewal"),
)
CARD_DETAILS = "any future expiry (12 / 34), any CVC (123)"
