"""The Stripe API version fiko-billing is written for, in one place.

A leaf module: it imports nothing, so both the package (``fiko_billing.conf``)
and the emulator, which imports nothing else of the package, read the same
constant. The installed stripe SDK must be generated for this version (a
test and the system check ``fiko_billing.W001`` hold them together).
"""

#: Webhook payloads and API responses are read in this version's shapes; it is
#: sent with every request instead of relying on the account's default.
PINNED_API_VERSION = "2026-10-28.endive"
