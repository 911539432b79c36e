"""What the JSON endpoints accept: one Django form per endpoint, errors in our envelope.

An endpoint names its input form (``@endpoint(input_form=...)``); the form is bound
to the JSON object of the body (``GET``: the query string) and its first error,
in the order of its fields, becomes ``InvalidInput``: the envelope's code
(``missing_field``, ``invalid_input`` or an error code of the field's own),
a message naming the field, and ``fields`` with the field's message.

The fields here take JSON values as they are: an integer field refuses
``"5"``, ``5.0`` and ``true``, where Django's would convert them, because a
client that sends the wrong type has a bug we should tell it about.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fiko_billing import strict_json
from fiko_billing.conf import billing_settings
from fiko_billing.exceptions import InvalidInput

MAX_BODY_BYTES = 64 * 1024
MAX_INTEGER = 2**31 - 1

#: Per error code of a field: the envelope's message (naming the field) and code.
SUMMARIES: dict[str, tuple[Any, str]] = {
    "required": (gettext_lazy("'%(name)s' is required."), "missing_field"),
    "integer": (gettext_lazy("'%(name)s' must be an integer."), "invalid_input"),
    "range": (
        gettext_lazy("'%(name)s' must be between %(minimum)d and %(maximum)d."),
        "invalid_input",
    ),
    "query_integer": (
        gettext_lazy("'%(name)s' must be an integer between %(minimum)d and %(maximum)d."),
        "invalid_input",
    ),
    "choice": (gettext_lazy("'%(name)s' must be one of: %(options)s."), "invalid_input"),
    "text": (
        gettext_lazy(
            "'%(name)s' must be a non-empty string of at most %(max_length)d characters."
        ),
        "invalid_input",
    ),
    "boolean": (gettext_lazy("'%(name)s' must be true or false."), "invalid_input"),
}


def rule_error(summary: Any, message: Any, code: str = "invalid_input") -> ValidationError:
    """A field's own rule broken: ``summary`` names the field, ``message`` is for the field."""
    return ValidationError(message, code=code, params={"summary": summary})


# ---------------------------------------------------------------------- the body


def content_length(request: HttpRequest) -> int:
    """The declared body size; an unreadable header counts as too large."""
    raw = request.META.get("CONTENT_LENGTH") or "0"
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else MAX_BODY_BYTES + 1


def request_body(request: HttpRequest) -> bytes:
    """``request.body``; ``InvalidInput`` (``body_too_large``) when it is larger than
    Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``, which Django would answer with an HTML page."""
    try:
        return request.body
    except RequestDataTooBig as exc:
        raise InvalidInput(
            _("The request body is larger than this site accepts."), code="body_too_large"
        ) from exc


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object body; an empty body is ``{}``.

    The size is checked before the body is read, and what is parsed is
    strict JSON: no ``NaN``/``Infinity``, no nesting deeper than
    ``strict_json.MAX_DEPTH``, no text that a database would refuse (``\\u0000``).
    """
    if content_length(request) > MAX_BODY_BYTES:
        raise InvalidInput(
            _("The request body is too large (at most %(max)d bytes).") % {"max": MAX_BODY_BYTES},
            code="body_too_large",
        )
    body = request_body(request)
    if not body.strip():
        return {}
    data = parse_json(body)
    if not isinstance(data, dict):
        raise InvalidInput(_("The body must be a JSON object."), code="invalid_json")
    return data


def parse_json(body: bytes) -> Any:
    """``body`` decoded as strict JSON, or ``InvalidInput`` (``invalid_json``) saying why."""
    try:
        data = strict_json.loads(body)
    except strict_json.JSONRejected as exc:
        raise InvalidInput(
            _("The body is not valid JSON: %(error)s") % {"error": exc}, code="invalid_json"
        ) from exc
    if strict_json.contains_nul(data):
        raise InvalidInput(
            _("The body contains a NUL character (\\u0000), which no field accepts.")
        )
    return data


# ---------------------------------------------------------------------- fields


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


#: What a field reads when the object has no member of its name (``null`` is ``None``).
ABSENT: Any = _Absent()


class JSONValue(forms.Widget):
    """Reads a member of the JSON object as it is, telling an absent member from ``null``."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        return data.get(name, ABSENT)


class JSONField(forms.Field):
    """A member of a JSON object, taken as it is (no conversion between types).

    Absent and ``null`` both count as missing, unless ``null_allowed`` is
    false: then ``null`` is a value of the wrong type. So ``to_python`` never
    sees an absent member, and sees ``null`` only to refuse it.
    """

    widget = JSONValue

    def __init__(self, *, null_allowed: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.null_allowed = null_allowed

    def clean(self, value: Any) -> Any:
        if value is ABSENT or (value is None and self.null_allowed):
            value = None
            self.validate(value)
            return None
        return super().clean(value)

    def validate(self, value: Any) -> None:
        if value is None and self.required:
            raise ValidationError(_("This field is required."), code="required")


class IntegerInput(JSONField):
    def __init__(self, *, minimum: int = 1, maximum: int = MAX_INTEGER, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.minimum = minimum
        self.maximum = maximum

    def to_python(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(_("Must be an integer."), code="integer")
        if not self.minimum <= value <= self.maximum:
            bounds = {"minimum": self.minimum, "maximum": self.maximum}
            raise ValidationError(
                _("Must be between %(minimum)d and %(maximum)d."),
                code="range",
                params=bounds,
            )
        return value


class QueryIntegerInput(IntegerInput):
    """A whole number in the query string (digits only: no sign, no decimals)."""

    def to_python(self, value: Any) -> int:
        if not (value.isascii() and value.isdigit()) or len(value) > 12:
            number = None
        else:
            number = int(value)
        if number is None or not self.minimum <= number <= self.maximum:
            bounds = {"minimum": self.minimum, "maximum": self.maximum}
            raise ValidationError(
                _("Must be between %(minimum)d and %(maximum)d."),
                code="query_integer",
                params=bounds,
            )
        return number


class ChoiceInput(JSONField):
    def __init__(self, *, choices: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.choices = choices

    def to_python(self, value: Any) -> str:
        if not isinstance(value, str) or value not in self.choices:
            options = {"options": ", ".join(self.choices)}
            raise ValidationError(_("Must be one of: %(options)s."), code="choice", params=options)
        return value


class TextInput(JSONField):
    def __init__(self, *, max_length: int = 2000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length

    def to_python(self, value: Any) -> str:
        if not isinstance(value, str) or not value or len(value) > self.max_length:
            raise ValidationError(
                _("Must be a non-empty string."),
                code="text",
                params={"max_length": self.max_length},
            )
        return value


class CurrencyInput(JSONField):
    """A three-letter ISO 4217 code, in any case (which of them are sold is the catalogue's)."""

    length = 3

    def to_python(self, value: Any) -> str:
        if not isinstance(value, str) or len(value) != self.length or not value.isalpha():
            raise rule_error(
                _("'currency' must be a three-letter ISO 4217 code."),
                _("Must be a three-letter code such as 'usd'."),
            )
        return value


class BooleanInput(JSONField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(null_allowed=False, **kwargs)

    def to_python(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError(_("Must be a boolean."), code="boolean")
        return value


# ---------------------------------------------------------------------- forms


class InputForm(forms.Form):
    """The input of one endpoint. ``defaults`` fill what the client left out."""

    defaults: dict[str, Any] = {}

    def __init__(self, data: Any, *, request: HttpRequest) -> None:
        super().__init__(data)
        self.request = request

    @classmethod
    def read(cls, request: HttpRequest) -> dict[str, Any]:
        """The cleaned input of ``request``, or ``InvalidInput`` for its first error."""
        data = request.GET if request.method == "GET" else json_body(request)
        form = cls(data, request=request)
        if not form.is_valid():
            raise form.first_error()
        cleaned = dict(form.cleaned_data)
        for name, default in form.defaults.items():
            if cleaned.get(name) is None:
                cleaned[name] = default
        return cleaned

    def first_error(self) -> InvalidInput:
        """The error of the first field (in declaration order) that has one."""
        name = next(name for name in self.fields if name in self.errors)
        error = self.errors.as_data()[name][0]
        params = {"name": name, **(error.params or {})}
        code = str(error.code)
        summary, envelope_code = SUMMARIES.get(code, (params.get("summary"), code))
        return InvalidInput(
            str(summary) % params,
            code=envelope_code,
            fields={name: str(error.message) % params},
        )


# ---------------------------------------------------------------------- the endpoints' inputs


class CheckoutSessionInput(InputForm):
    """``POST stripe/checkout-session/``."""

    plan_type = ChoiceInput(choices=("full", "token"))
    plan_id = IntegerInput()
    currency = CurrencyInput(required=False)
    quantity = IntegerInput(required=False)
    defaults = {"quantity": 1}

    def __init__(self, data: Any, *, request: HttpRequest) -> None:
        super().__init__(data, request=request)
        # A setting, so read per request (override_settings, a reload) rather than at import.
        self.fields["quantity"].maximum = billing_settings.MAX_QUANTITY  # type: ignore[attr-defined]

    def clean_quantity(self) -> int | None:
        quantity: int | None = self.cleaned_data["quantity"]
        if self.cleaned_data.get("plan_type") == "full" and quantity not in (None, 1):
            raise rule_error(
                _("'quantity' applies to token packages only."),
                _("Plans are bought one at a time."),
            )
        return quantity


#: The portal's deep links a client may ask for (Stripe's ``flow_data.type``).
PORTAL_FLOWS = ("payment_method_update",)


class PortalSessionInput(InputForm):
    """``POST stripe/customer-portal/``: a return URL on a host we may send a customer to."""

    return_url = TextInput(required=False)
    flow = ChoiceInput(choices=PORTAL_FLOWS, required=False, null_allowed=False)

    def clean_return_url(self) -> str | None:
        url: str | None = self.cleaned_data["return_url"]
        if url is None:
            url = billing_settings.PORTAL_RETURN_URL
        allowed = url_has_allowed_host_and_scheme(
            url,
            allowed_hosts=allowed_redirect_hosts(self.request),
            require_https=not billing_settings.TEST_MODE,
        )
        if not allowed or not urlsplit(url).netloc:
            raise rule_error(
                _("'return_url' must be an absolute URL on an allowed host."),
                _("This host is not allowed."),
                code="return_url_not_allowed",
            )
        return url


def allowed_redirect_hosts(request: HttpRequest) -> set[str]:
    """The request's host, those of our configured URLs and ``ALLOWED_REDIRECT_HOSTS``."""
    hosts = {request.get_host()}
    for url in (billing_settings.PORTAL_RETURN_URL, billing_settings.SUCCESS_URL):
        netloc = urlsplit(url).netloc
        if netloc:
            hosts.add(netloc)
    return hosts | set(billing_settings.ALLOWED_REDIRECT_HOSTS)


class CancelSubscriptionInput(InputForm):
    """``POST subscription/cancel/``."""

    immediately = BooleanInput(required=False)
    defaults = {"immediately": False}


class ChangeSubscriptionInput(InputForm):
    """``POST subscription/change/``."""

    plan_id = IntegerInput()


class NoInput(InputForm):
    """An endpoint that reads no field, but whose body must still be a JSON object."""


#: The largest page of a list endpoint.
MAX_PAGE_SIZE = 100


class PageInput(InputForm):
    """``?page=&page_size=`` of the list endpoints."""

    page = QueryIntegerInput(required=False, maximum=10**6)
    page_size = QueryIntegerInput(required=False, maximum=MAX_PAGE_SIZE)
    defaults = {"page": 1, "page_size": 20}
