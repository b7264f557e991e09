"""Transition tables: every state machine of every fake is a dict keyed by (state, action).

Like h11's `_state.py`, a machine is data: the table lists every legal move and nothing else, so an
illegal move is simply a missing key and raises one typed error.
"""

from __future__ import annotations

from collections.abc import Mapping


class IllegalTransition(Exception):
    """A state machine was asked to apply an action that its transition table does not allow."""

    def __init__(self, machine: str, state: str, action: str) -> None:
        super().__init__(machine, state, action)
        self.machine = machine
        self.state = state
        self.action = action

    def __str__(self) -> str:
        return f"{self.machine}: no transition from {self.state!r} on {self.action!r}"


class StateMachine:
    """A named transition table. `next(state, action)` is the whole behaviour."""

    __slots__ = ("name", "table", "states", "actions", "terminal")

    def __init__(self, name: str, table: Mapping[tuple[str, str], str], states: tuple[str, ...]):
        unknown = {s for pair in table for s in (pair[0],)} | set(table.values())
        if not unknown <= set(states):
            raise ValueError(f"{name}: table uses states not declared: {sorted(unknown - set(states))}")
        self.name = name
        self.table = dict(table)
        self.states = states
        self.actions = tuple(sorted({action for _, action in table}))
        self.terminal = tuple(s for s in states if not any(src == s for src, _ in table))

    def next(self, state: str, action: str) -> str:
        """The state after `action` in `state`; raises `IllegalTransition` if the move is not legal."""
        try:
            return self.table[(state, action)]
        except KeyError:
            raise IllegalTransition(self.name, state, action) from None

    def allows(self, state: str, action: str) -> bool:
        """Whether `action` is legal in `state`."""
        return (state, action) in self.table
