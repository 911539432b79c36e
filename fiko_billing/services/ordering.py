"""Which of several Stripe states of one object is the newest, whatever the delivery order.

Stripe stamps events with whole seconds and does not deliver them in order.
Fields are kept in groups (a subscription's status, its plan, its period, its
scheduled cancellation), each with the Stripe second of the state it shows
and what was learnt about that second:

* a newer second replaces an older one; an older one is ignored;
* within one second, ``customer.subscription.updated`` events carry
  ``data.previous_attributes``: an *edge* from the old value to the new. The
  edges of a second form a path, and its end is the state at the end of that
  second. The walk starts from what is known to come first: an API answer
  read in that second (everything processed before it is older), the
  ``created`` event, or the value the group held before that second;
* an event whose group did not change gives a *node*: a value the group had
  at some moment of that second;
* when the edges and nodes of one second do not decide (a cycle such as
  past_due → active → past_due, or two different nodes), the caller retrieves
  the object from Stripe once and *settles* the second with the answer.

Values are plain JSON (what Stripe sent), so the state is stored in a
``JSONField`` and compared by equality.
"""

from __future__ import annotations

import copy
import json
from typing import Any

AMBIGUOUS = object()
MISSING = object()

GroupState = dict[str, Any]


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def observe(
    state: GroupState | None,
    at: int,
    *,
    value: Any,
    before: Any = MISSING,
    role: str = "event",
) -> GroupState | None:
    """``state`` after learning ``value`` at Stripe second ``at``; ``None`` if older.

    ``role``: ``"event"`` (with ``before`` when the event says what changed),
    ``"first"`` (the object's creation), ``"anchor"`` (an API answer: newer
    than everything learnt so far in that second) or ``"settled"`` (the
    answer of a retrieve that settles the second).
    """
    current = copy.deepcopy(state or {})
    if current and at < current["at"]:
        return None
    if current and at > current["at"]:
        resolved = resolve(current)
        current = {"at": at}
        if resolved is not AMBIGUOUS and resolved is not MISSING:
            current["hint"] = resolved
    current["at"] = at
    if role == "settled":
        return {"at": at, "settled": value}
    if "settled" in current:
        return current
    if role == "anchor":
        return {"at": at, "anchor": value}
    if role == "first":
        current.setdefault("origin", value)
        return current
    if before is not MISSING and _key(before) != _key(value):
        edge = [before, value]
        edges = current.setdefault("edges", [])
        if all(_key(e) != _key(edge) for e in edges):
            edges.append(edge)
    else:
        nodes = current.setdefault("nodes", [])
        if all(_key(n) != _key(value) for n in nodes):
            nodes.append(value)
    return current


def _walk(start: Any, edges: list[list[Any]]) -> Any:
    current, used = start, set()
    while True:
        outs = [
            (i, edge)
            for i, edge in enumerate(edges)
            if i not in used and _key(edge[0]) == _key(current)
        ]
        if not outs:
            return current
        if len({_key(edge[1]) for _, edge in outs}) > 1:
            return AMBIGUOUS
        index, edge = outs[0]
        used.add(index)
        current = edge[1]


def _degree_end(edges: list[list[Any]]) -> Any:
    balance: dict[str, int] = {}
    values: dict[str, Any] = {}
    for source, target in edges:
        balance[_key(source)] = balance.get(_key(source), 0) - 1
        balance[_key(target)] = balance.get(_key(target), 0) + 1
        values[_key(source)], values[_key(target)] = source, target
    ends = [key for key, degree in balance.items() if degree > 0]
    return values[ends[0]] if len(ends) == 1 else AMBIGUOUS


def _has_out(value: Any, edges: list[list[Any]]) -> bool:
    return any(_key(edge[0]) == _key(value) for edge in edges)


def resolve(state: GroupState | None) -> Any:
    """The group's value at the end of its second: a value, ``AMBIGUOUS`` or ``MISSING``."""
    if not state:
        return MISSING
    if "settled" in state:
        return state["settled"]
    edges: list[list[Any]] = state.get("edges", [])
    if "anchor" in state:
        return _walk(state["anchor"], edges)
    if edges:
        for start in ("origin", "hint"):
            if start in state and _has_out(state[start], edges):
                return _walk(state[start], edges)
        return _degree_end(edges)
    nodes: list[Any] = state.get("nodes", [])
    if nodes:
        return nodes[0] if len(nodes) == 1 else AMBIGUOUS
    for start in ("origin", "hint"):
        if start in state:
            return state[start]
    return MISSING
