"""Journal validation and the general ledger.

Every entry must balance in its transaction currency (DOMAIN I12): each line one-sided and
non-negative, debits equal to credits. The ledger keeps one balance per (entity, currency,
account), as debits minus credits, so every book sums to zero.
"""

from __future__ import annotations

from collections.abc import Iterable

from rehearse.sync.model import JournalLine


def balanced_total_minor(journal: Iterable[JournalLine]) -> int | None:
    """The entry's debit total (= credit total) if it balances, else None.

    A line with both sides zero is allowed (a zero-amount invoice posts zero lines).

    Examples
    --------
    >>> balanced_total_minor([JournalLine("ar", 120, 0), JournalLine("revenue", 0, 120)])
    120
    >>> balanced_total_minor([JournalLine("ar", 120, 0), JournalLine("revenue", 0, 100)]) is None
    True
    """
    debit_minor = 0
    credit_minor = 0
    for line in journal:
        debit = line.debit_minor
        credit = line.credit_minor
        if debit < 0 or credit < 0 or (debit and credit):
            return None
        debit_minor += debit
        credit_minor += credit
    return debit_minor if debit_minor == credit_minor else None


class GeneralLedger:
    """Account balances per book; a book is an (entity, currency) pair."""

    __slots__ = ("_books",)

    def __init__(self) -> None:
        self._books: dict[tuple[str, str], dict[str, int]] = {}

    def post(self, entity: str, currency: str, journal: Iterable[JournalLine]) -> None:
        """Add a (validated) journal entry to the book of `entity` in `currency`."""
        book = self._books.get((entity, currency))
        if book is None:
            book = self._books[(entity, currency)] = {}
        for line in journal:
            account = line.account
            book[account] = book.get(account, 0) + line.debit_minor - line.credit_minor

    def balance(self, entity: str, currency: str, account: str) -> int:
        """Debits minus credits of one account; 0 if never posted to."""
        book = self._books.get((entity, currency))
        return book.get(account, 0) if book else 0

    def balances(self) -> dict[tuple[str, str, str], int]:
        """Every (entity, currency, account) balance, sorted by key."""
        return {
            (entity, currency, account): book[account]
            for (entity, currency), book in sorted(self._books.items())
            for account in sorted(book)
        }
