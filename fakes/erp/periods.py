"""Accounting periods: which (entity, "YYYY-MM") pairs are closed.

Periods are open until closed; closing is idempotent and never undone. Entity ``"*"`` stands for
every entity at once.
"""

from __future__ import annotations

from collections.abc import Iterable

ALL_ENTITIES = "*"


def is_period_name(period: str) -> bool:
    """Whether `period` looks like "YYYY-MM" (cheap: shape only, month 01-12)."""
    return (
        len(period) == 7
        and period[4] == "-"
        and period[:4].isdigit()
        and period[5:].isdigit()
        and 1 <= int(period[5:]) <= 12
    )


class PeriodBook:
    """The closed periods of every entity, keyed by period so the hot check allocates nothing."""

    __slots__ = ("_entity_ids", "_closed_entities_by_period")

    def __init__(self, entity_ids: Iterable[str]) -> None:
        self._entity_ids = frozenset(entity_ids)
        self._closed_entities_by_period: dict[str, set[str]] = {}

    def add_entity(self, entity: str) -> None:
        """A subsidiary set up after the book was opened."""
        self._entity_ids = self._entity_ids | {entity}

    def close(self, entity: str, period: str) -> bool:
        """Close `period` for `entity` (or all, ``"*"``); returns whether anything changed.

        Raises ValueError for an unknown entity or a malformed period: that is a scenario bug.
        """
        if entity != ALL_ENTITIES and entity not in self._entity_ids:
            raise ValueError(f"unknown entity {entity!r}")
        if not is_period_name(period):
            raise ValueError(f"period must be 'YYYY-MM', got {period!r}")
        closed = self._closed_entities_by_period.setdefault(period, set())
        if entity in closed:
            return False
        closed.add(entity)
        return True

    def is_closed(self, entity: str, period: str) -> bool:
        """Whether `entity` cannot post into `period`; for ``"*"``, whether no entity can."""
        closed = self._closed_entities_by_period.get(period)
        if not closed:
            return False
        if ALL_ENTITIES in closed or entity in closed:
            return True
        return entity == ALL_ENTITIES and self._entity_ids <= closed

    def closed(self) -> list[tuple[str, str]]:
        """Every explicit close as sorted (entity, period) pairs."""
        return sorted(
            (entity, period)
            for period, entities in self._closed_entities_by_period.items()
            for entity in entities
        )
