"""The suite's settings with the subscriber model from ``FIKO_TEST_SUBSCRIBER_MODEL``.

For the checks of a bad ``FIKO_BILLING_SUBSCRIBER_MODEL``, which must run in
a fresh process: the models read the setting when they are imported.
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403

FIKO_BILLING_SUBSCRIBER_MODEL = os.environ["FIKO_TEST_SUBSCRIBER_MODEL"]
