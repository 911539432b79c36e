"""The token ledger: the public API through which tokens are credited and spent.

Rules this package keeps, on PostgreSQL and SQLite alike:

* the subscriber is a saved instance of the subscriber model (anything else,
  such as ``request.user`` when an organisation pays, raises ``TypeError``);
* amounts are positive ``int`` of at most ``MAX_AMOUNT`` (0, negatives, floats
  and bools raise ``ValueError``), and a balance stays within ``MAX_BALANCE``
  either way; texts are checked before the database sees them;
* an operation repeated with the same ``reference`` returns the first result and
  changes nothing (a different operation under a used reference raises
  ``ReferenceConflict``);
* debits draw from the credits that expire first;
* the stored balance always equals the sum of the entries;
* ``consume`` and ``reserve`` never take the balance below zero; only
  ``revoke`` (a refund taking tokens back) may leave a debt, which blocks
  spending until new credits cover it;
* a reservation holds its tokens until it is settled, released or expires
  (``RESERVATION_TIMEOUT``, or ``expires_in``); every write to the account and
  ``expire_due`` give expired holds back;
* every write for one subscriber runs in one transaction holding that
  subscriber's account row, so parallel requests never spend the same tokens.

The modules, by what they do: ``validation`` (what is accepted), ``accounts``
(the balance, the lock, the signals), ``movements`` (expiries, draws and debits
under the lock), ``operations`` (credit, consume, revoke, adjust),
``reservations``, ``claims`` (money going back), ``expiry`` (the sweeps) and
``batches`` (many subscribers at once); ``hot_path`` and ``statements`` write
the common case of each operation in a few set-based statements.
"""

from __future__ import annotations

from fiko_billing.exceptions import InsufficientTokens
from fiko_billing.tokens.accounts import balance, lock_account
from fiko_billing.tokens.batches import lock_and_expire
from fiko_billing.tokens.claims import reinstate, take_back
from fiko_billing.tokens.expiry import expire_credit, expire_due
from fiko_billing.tokens.operations import adjust, consume, credit, revoke
from fiko_billing.tokens.reservations import (
    Reservation,
    get_reservation,
    release,
    reserve,
    settle,
)
from fiko_billing.tokens.validation import (
    INTERNAL_PREFIXES,
    MAX_AMOUNT,
    MAX_BALANCE,
    MAX_TEXT_LENGTH,
)

__all__ = [
    "INTERNAL_PREFIXES",
    "MAX_AMOUNT",
    "MAX_BALANCE",
    "MAX_TEXT_LENGTH",
    "InsufficientTokens",
    "Reservation",
    "adjust",
    "balance",
    "consume",
    "credit",
    "expire_credit",
    "expire_due",
    "get_reservation",
    "lock_account",
    "lock_and_expire",
    "reinstate",
    "release",
    "reserve",
    "revoke",
    "settle",
    "take_back",
]
