"""What became of one event: the words every caller of the event service compares."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """The outcome of processing one stored event (a ``str``: JSON and logs show the word)."""

    #: Its handlers ran and committed.
    PROCESSED = "processed"
    #: No handler for its type: stored and marked, nothing else written.
    IGNORED = "ignored"
    #: Already done, or being done by a concurrent delivery.
    DUPLICATE = "duplicate"
    #: What it acts on is not recorded yet: it stays pending and runs again by itself.
    WAITING = "waiting"
    #: A handler or the commit raised: rolled back, recorded; a retry may succeed.
    FAILED = "failed"
    #: Set aside after too many failures or too long a wait; a person must look.
    DEAD = "dead"
    #: Stored and handed to the task framework (``WEBHOOK_PROCESSING = "task"``).
    QUEUED = "queued"
    #: Signed but no usable event: recorded as a ``RejectedEvent``, never processed.
    REJECTED = "rejected"

    @property
    def is_failure(self) -> bool:
        """Whether someone must act: a retry (failed) or a person (dead)."""
        return self in (Outcome.FAILED, Outcome.DEAD)
