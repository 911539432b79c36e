"""Every Python example of README.md and docs/*.md runs (see tests/docs_examples.py).

The blocks of one page run in order in one namespace, as a reader would type
them: an import in the first block serves the later ones. Before each block,
the names the examples use for the paying party are bound afresh:
``subscriber``, ``org`` and ``organisation`` (a new subscriber), ``user``
(a new user, the subscriber when users pay) and ``request`` (a request by
``user``). Billing talks to the Stripe emulator.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.dispatch import Signal
from django.test import RequestFactory

from tests.docs_examples import KINDS, Example, all_examples
from tests.factories import SubscriberFactory, UserFactory
from tests.host_project import run_pytest, write_host_project

EXAMPLES = all_examples()
PAGES: dict[str, list[Example]] = defaultdict(list)
for _example in EXAMPLES:
    PAGES[str(_example.path.name)].append(_example)


def _prepared(namespace: dict[str, Any]) -> None:
    user = UserFactory()
    subscriber = SubscriberFactory()
    if subscriber._meta.label == user._meta.label:
        user = subscriber
    request = RequestFactory().get("/")
    request.user = user
    namespace.update(
        subscriber=subscriber, org=subscriber, organisation=subscriber, user=user, request=request
    )


def test_every_example_has_a_known_kind() -> None:
    assert EXAMPLES, "no Python examples found"
    unknown = [f"{e.name}: {e.kind}" for e in EXAMPLES if e.kind not in KINDS]
    assert not unknown, unknown


def _compile_fragment(example: Example) -> None:
    """Compiled as a function's body, where a view's ``return`` belongs too."""
    body = textwrap.indent(example.code, "    ")
    try:
        compile(f"def _example():\n{body}", example.name, "exec")
    except SyntaxError as exc:
        raise AssertionError(
            f"the example at {example.name} is not Python:\n{example.code}"
        ) from exc


@pytest.fixture
def hooks_restored() -> Iterator[None]:
    """Receivers and webhook handlers an example connects are gone after its page.

    A page's example of a signal receiver would otherwise stay connected for
    the rest of the process, and run (and fail) in other tests.
    """
    from fiko_billing import signals
    from fiko_billing.services.events.registry import handlers

    saved = [(s, list(s.receivers)) for s in vars(signals).values() if isinstance(s, Signal)]
    before = {t: handlers.handlers_for(t) for t in handlers.handled_event_types()}
    yield
    for signal, receivers in saved:
        with signal.lock:
            signal.receivers = receivers
            signal.sender_receivers_cache.clear()
    for event_type in handlers.handled_event_types():
        for handler in handlers.handlers_for(event_type):
            if handler not in before.get(event_type, []):
                handlers.remove(event_type, handler)


@pytest.mark.parametrize("page", sorted(PAGES))
@pytest.mark.usefixtures("hooks_restored")
def test_the_examples_of_a_page_run(page: str, stripe_emulator: Any, db: None) -> None:
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    for example in PAGES[page]:
        if example.kind == "signature":
            continue  # not Python: test_a_documented_signature_is_the_functions
        if example.kind != "run":
            _compile_fragment(example)
            continue
        code = compile(example.code, example.name, "exec")
        _prepared(namespace)
        try:
            exec(code, namespace)  # noqa: S102 - our own documentation
        except Exception as exc:
            raise AssertionError(f"the example at {example.name} fails:\n{example.code}") from exc


_SIGNATURE = re.compile(r"^(?P<name>[a-z_][\w.]*)\(", re.MULTILINE)


def _documented_parameters(chunk: str, dotted: str) -> list[str]:
    """The parameter names of ``name(...) -> T`` as the reference writes it."""
    stub = "def f" + chunk[len(dotted) :].rstrip()
    stub = re.sub(r"\)\s*->[^\n]*$", ")", stub) + ": ..."
    function = ast.parse(stub).body[0]
    assert isinstance(function, ast.FunctionDef)
    args = function.args
    names = [a.arg for a in [*args.posonlyargs, *args.args]]
    names += [f"*{args.vararg.arg}"] if args.vararg else []
    return names + [a.arg for a in args.kwonlyargs]


def _parameters(function: Any) -> list[str]:
    return [
        f"*{name}" if parameter.kind is parameter.VAR_POSITIONAL else name
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.kind is not parameter.VAR_KEYWORD
    ]


@pytest.mark.parametrize(
    "example", [e for e in EXAMPLES if e.kind == "signature"], ids=lambda e: e.name
)
def test_a_documented_signature_is_the_functions(example: Example) -> None:
    """Each ``module.function(...)`` of a signature block exists, with those parameters."""
    starts = [m.start() for m in _SIGNATURE.finditer(example.code)]
    assert starts, f"{example.name}: no signature found"
    for start, end in zip(starts, [*starts[1:], len(example.code)], strict=True):
        chunk = example.code[start:end]
        dotted = _SIGNATURE.match(chunk)["name"]  # type: ignore[index]
        module_name, _, attribute = f"fiko_billing.{dotted}".rpartition(".")
        function = getattr(importlib.import_module(module_name), attribute, None)
        assert callable(function), f"{example.name}: fiko_billing.{dotted} does not exist"
        assert _documented_parameters(chunk, dotted) == _parameters(function), example.name


def test_the_pytest_examples_run_in_a_host_project(tmp_path: Path) -> None:
    examples = [e for e in EXAMPLES if e.kind == "pytest"]
    assert examples, "the testing guide has no pytest examples"
    files = {f"test_example_{i}.py": example.code for i, example in enumerate(examples)}
    result = run_pytest(write_host_project(tmp_path, files))
    names = "\n".join(f"test_example_{i}.py: {e.name}" for i, e in enumerate(examples))
    assert result.returncode == 0, f"{names}\n{result.stdout}{result.stderr}"
