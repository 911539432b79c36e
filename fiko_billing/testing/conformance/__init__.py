"""Conformance with the installed stripe SDK: requests and objects, checked as they travel.

``check_request`` holds a request's parameters to the SDK's ``params``
TypedDicts for its endpoint (unknown keys, wrong shapes, enum values,
required keys); ``check_object`` and ``check_event`` hold an object to the
SDK's resource classes (only declared fields, includable fields only when
expanded). ``ConformanceLog`` attaches both to a running emulator and
collects what they find, so a test fails on the first departure.
"""

from __future__ import annotations

from fiko_billing.testing.conformance.checks import Violation, check_request
from fiko_billing.testing.conformance.endpoints import endpoint_for
from fiko_billing.testing.conformance.log import ConformanceLog
from fiko_billing.testing.conformance.object_checks import (
    Reads,
    check_event,
    check_object,
    expanded_paths,
)
from fiko_billing.testing.conformance.schema import INCLUDABLE, SDK_API_VERSION

__all__ = [
    "INCLUDABLE",
    "SDK_API_VERSION",
    "ConformanceLog",
    "Reads",
    "Violation",
    "check_event",
    "check_object",
    "check_request",
    "endpoint_for",
    "expanded_paths",
]
