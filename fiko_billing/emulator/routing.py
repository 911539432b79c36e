"""Endpoint declarations: method, path, accepted parameters, handler."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from fiko_billing.emulator.context import Ctx
from fiko_billing.emulator.params import Hash, List, Str
from fiko_billing.emulator.store import Obj


@dataclass
class Call:
    """One API call as a handler sees it: checked parameters and path arguments."""

    params: Obj
    args: dict[str, str] = field(default_factory=dict)
    path: str = ""

    def arg(self, name: str) -> str:
        return self.args[name]


Handler = Callable[[Ctx, Call], Obj]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    params: Hash
    regex: re.Pattern[str]

    def match(self, path: str) -> dict[str, str] | None:
        found = self.regex.fullmatch(path)
        return None if found is None else found.groupdict()


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern))


class Routes:
    """A module's endpoints, declared with ``@routes.get(path, params)`` and friends."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def __iter__(self) -> Iterator[Route]:
        return iter(self._routes)

    def add(
        self, method: str, pattern: str, params: Hash | None, *, expandable: bool = True
    ) -> Callable[[Handler], Handler]:
        fields = dict(params.fields if params else {})
        if expandable:
            fields["expand"] = List(Str())
        spec = Hash(fields)

        def register(handler: Handler) -> Handler:
            self._routes.append(Route(method, pattern, handler, spec, _compile(pattern)))
            return handler

        return register

    def get(self, pattern: str, params: Hash | None = None) -> Callable[[Handler], Handler]:
        return self.add("GET", pattern, params)

    def post(self, pattern: str, params: Hash | None = None) -> Callable[[Handler], Handler]:
        return self.add("POST", pattern, params)

    def delete(
        self, pattern: str, params: Hash | None = None, *, expandable: bool = True
    ) -> Callable[[Handler], Handler]:
        """A DELETE; ``expandable=False`` where Stripe takes no ``expand`` (a deletion's
        answer is a bare ``{id, object, deleted}``)."""
        return self.add("DELETE", pattern, params, expandable=expandable)
