"""Reconciliation: what the ERP holds against what the oracle says it should hold (DOMAIN.md 10).

Invoices and payments are each a full outer join of the oracle's expectations with the ERP's
documents on the source id (the source invoice id, the charge id). Every source ends in exactly one
outcome:

- ``matched``: exactly one ERP document, equal on every reconciled field (and, for an invoice, in
  the final state the oracle expects);
- ``missing``: no ERP document (an invoice or payment still in the engine's in-flight set at the
  cut-off is missing too, and also counted as ``in_flight``);
- ``duplicated``: more than one ERP document (counted once per source);
- ``mismatched``: exactly one ERP document that differs (``mismatched_fields``: an amount, tax,
  currency, entity, customer, invoice or service period; ``mismatched_status``: fields equal, final
  state not the expected one);

and ``orphaned`` counts ERP documents whose source id has no expectation.

The final ERP state of an invoice is, in this order of precedence: ``void`` if a void document
points at it (``parent_id``), ``written_off`` if a write-off does and no recovery undid it, ``paid``
if the payments applied to it add up to its amount, else ``open``.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from rehearse.reports.frame import KindFrames

__all__ = [
    "accuracy_by_group",
    "erp_documents_per_source",
    "in_flight_sources",
    "invoice_markers",
    "invoice_table",
    "payment_table",
    "reversal_table",
    "summarise",
]

OUTCOMES = ("matched", "missing", "duplicated", "mismatched")
INVOICE_FIELDS = ("entity", "currency", "amount_minor", "tax_minor", "parent_id", "detail")
PAYMENT_FIELDS = ("entity", "currency", "amount_minor", "parent_id")
DOCUMENT_FIELDS = INVOICE_FIELDS  # a superset of PAYMENT_FIELDS


def _last_per_object(rows: pl.DataFrame) -> pl.DataFrame:
    """The last row (in trace order) per ``object_id``: a restated expectation wins."""
    return rows.unique(subset="object_id", keep="last")


def erp_documents_per_source(frames: KindFrames, document_type: str) -> pl.DataFrame:
    """ERP documents of one type grouped by source id (computed once per trace).

    Parameters
    ----------
    frames
        The trace split by kind.
    document_type
        ``erp.document`` code, e.g. ``"invoice"`` or ``"payment"``.

    Returns
    -------
    polars.DataFrame
        ``source_id`` (the documents' ``ref_id``), ``erp_documents`` (count), ``erp_first_t_s`` and,
        from the first document written, ``erp_entity``, ``erp_currency``, ``erp_amount_minor``,
        ``erp_tax_minor``, ``erp_parent_id`` and ``erp_detail``. Unordered.
    """

    def compute() -> pl.DataFrame:
        documents = frames.get("erp.document").filter(pl.col("code") == document_type)
        # Rows are in trace order and group_by keeps it within a group: first = first written.
        return documents.group_by(source_id="ref_id").agg(
            pl.len().alias("erp_documents"),
            pl.col("t_s").min().alias("erp_first_t_s"),
            *[pl.col(field).first().alias(f"erp_{field}") for field in DOCUMENT_FIELDS],
        )

    return frames.derived(f"erp_documents_per_source:{document_type}", compute)


def in_flight_sources(frames: KindFrames, document_type: str) -> pl.DataFrame:
    """Sources with a document of `document_type` still in flight at the cut-off: ``source_id``
    and ``in_flight`` (true)."""
    inflight = frames.get("engine.inflight").filter(pl.col("code") == document_type)
    return inflight.select(
        pl.col("ref_id").unique().alias("source_id"), pl.lit(True).alias("in_flight")
    )


def _outcome(fields_equal: pl.Expr) -> pl.Expr:
    return (
        pl.when(pl.col("oracle_object_id").is_null())
        .then(pl.lit("orphaned"))
        .when(pl.col("erp_documents") == 0)
        .then(pl.lit("missing"))
        .when(pl.col("erp_documents") > 1)
        .then(pl.lit("duplicated"))
        .when(fields_equal)
        .then(pl.lit("matched"))
        .otherwise(pl.lit("mismatched"))
    )


def _join(
    frames: KindFrames,
    expected: pl.DataFrame,
    document_type: str,
    fields: tuple[str, ...],
    carried: tuple[str, ...] = (),
) -> pl.DataFrame:
    """Full outer join of expectations and ERP documents on the source id, with in-flight flags."""
    oracle = expected.select(
        pl.col("object_id").alias("source_id"),
        pl.col("object_id").alias("oracle_object_id"),
        *[pl.col(field).alias(f"oracle_{field}") for field in (*fields, *carried)],
    )
    erp = erp_documents_per_source(frames, document_type)
    joined = oracle.join(erp, on="source_id", how="full", coalesce=True).join(
        in_flight_sources(frames, document_type), on="source_id", how="left"
    )
    equal = [pl.col(f"oracle_{field}") == pl.col(f"erp_{field}") for field in fields]
    return joined.with_columns(
        pl.col("erp_documents").fill_null(0),
        pl.col("in_flight").fill_null(False),
        pl.all_horizontal(equal).fill_null(False).alias("fields_equal"),
    )


def invoice_markers(frames: KindFrames) -> pl.DataFrame:
    """Per invoice source id: whether a void, or a write-off no recovery undid, points at it, and
    the amount applied.

    Computed once per trace.

    Returns
    -------
    polars.DataFrame
        ``source_id`` (the ``parent_id`` of voids, write-offs and applications), ``has_void``,
        ``has_writeoff``, ``applied_minor``. Unordered.
    """
    return frames.derived("invoice_markers", lambda: _invoice_markers(frames))


def _invoice_markers(frames: KindFrames) -> pl.DataFrame:
    documents = frames.get("erp.document").filter(pl.col("code").is_in(["void", "writeoff", "recovery"]))
    # +1 for a write-off, -1 for the recovery that undoes it
    writeoffs = pl.when(pl.col("code") == "writeoff").then(1).when(pl.col("code") == "recovery").then(-1).otherwise(0)
    return (
        pl.concat(
            [
                documents.select(
                    pl.col("parent_id").alias("source_id"),
                    (pl.col("code") == "void").alias("has_void"),
                    writeoffs.cast(pl.Int64).alias("writeoffs"),
                    pl.lit(0, dtype=pl.Int64).alias("applied_minor"),
                ),
                frames.get("erp.payment_applied").select(
                    pl.col("parent_id").alias("source_id"),
                    pl.lit(False).alias("has_void"),
                    pl.lit(0, dtype=pl.Int64).alias("writeoffs"),
                    pl.col("amount_minor").alias("applied_minor"),
                ),
            ]
        )
        .group_by("source_id")
        .agg(pl.col("has_void").any(), (pl.col("writeoffs").sum() > 0).alias("has_writeoff"),
             pl.col("applied_minor").sum())
    )


def invoice_table(frames: KindFrames) -> pl.DataFrame:
    """Reconcile invoices: one row per source invoice id found in the oracle or the ERP.

    Computed once per trace.

    Parameters
    ----------
    frames
        The trace split by kind.

    Returns
    -------
    polars.DataFrame
        ``source_id``; ``oracle_*`` (the ``oracle.invoice`` row's entity, currency, amount_minor,
        tax_minor, parent_id = customer, detail, code = expected state; null when orphaned);
        ``erp_documents`` (ERP invoices for that source), ``erp_first_t_s`` and ``erp_*`` (the first
        ERP invoice's fields); ``has_void``, ``has_writeoff``, ``applied_minor``, ``erp_state``;
        ``fields_equal``, ``in_flight`` and ``outcome``. Unordered: sort before output.
    """

    def compute() -> pl.DataFrame:
        expected = _last_per_object(frames.get("oracle.invoice")).with_columns(
            pl.col("ref_id").alias("parent_id")  # the oracle names the customer in ref_id
        )
        table = (
            _join(frames, expected, "invoice", INVOICE_FIELDS, carried=("code",))
            .join(invoice_markers(frames), on="source_id", how="left")
            .with_columns(
                pl.col("has_void", "has_writeoff").fill_null(False),
                pl.col("applied_minor").fill_null(0),
            )
        )
        erp_state = (
            pl.when(pl.col("erp_documents") == 0)
            .then(pl.lit(None, dtype=pl.String))
            .when(pl.col("has_void"))
            .then(pl.lit("void"))
            .when(pl.col("has_writeoff"))
            .then(pl.lit("written_off"))
            .when(pl.col("applied_minor") >= pl.col("erp_amount_minor"))
            .then(pl.lit("paid"))
            .otherwise(pl.lit("open"))
        )
        table = table.with_columns(erp_state.alias("erp_state"))
        state_equal = (pl.col("erp_state") == pl.col("oracle_code")).fill_null(False)
        return table.with_columns(_outcome(pl.col("fields_equal") & state_equal).alias("outcome"))

    return frames.derived("invoice_table", compute)


def payment_table(frames: KindFrames) -> pl.DataFrame:
    """Reconcile payments: one row per charge id found in the oracle or among ERP payments.

    Computed once per trace.

    Parameters
    ----------
    frames
        The trace split by kind.

    Returns
    -------
    polars.DataFrame
        ``source_id`` (the charge); ``oracle_*`` (the ``oracle.payment`` row's entity, currency,
        amount_minor, parent_id = invoice); ``erp_documents``, ``erp_first_t_s``, ``erp_*`` (the
        first ERP payment's fields, parent_id = the invoice it was applied to); ``fields_equal``,
        ``in_flight`` and ``outcome``. Unordered: sort before output.
    """

    def compute() -> pl.DataFrame:
        expected = _last_per_object(frames.get("oracle.payment"))
        return _join(frames, expected, "payment", PAYMENT_FIELDS).with_columns(
            _outcome(pl.col("fields_equal")).alias("outcome")
        )

    return frames.derived("payment_table", compute)


def reversal_table(frames: KindFrames) -> pl.DataFrame:
    """Reconcile payment reversals (returned bank debits): one row per charge id found in the
    oracle's ``oracle.reversal`` rows or among ERP reversals, with the columns of `payment_table`.
    The oracle names the invoice as parent; so does the ERP's reversal record."""

    def compute() -> pl.DataFrame:
        expected = _last_per_object(frames.get("oracle.reversal"))
        return _join(frames, expected, "reversal", PAYMENT_FIELDS).with_columns(
            _outcome(pl.col("fields_equal")).alias("outcome")
        )

    return frames.derived("reversal_table", compute)


def summarise(table: pl.DataFrame) -> dict[str, int]:
    """Count the outcomes of a reconciliation table.

    Parameters
    ----------
    table
        The result of `invoice_table` or `payment_table`.

    Returns
    -------
    dict
        ``expected``, ``matched``, ``missing``, ``duplicated``, ``mismatched`` (with
        ``mismatched_fields`` and ``mismatched_status``), ``orphaned`` (ERP documents, not sources),
        ``in_flight`` (missing and in the in-flight set). Counts only: amounts are in
        `accuracy_by_group`, per currency, since amounts of different currencies do not add up.
    """
    outcome = pl.col("outcome")
    expected = pl.col("oracle_object_id").is_not_null()
    row = table.select(
        expected.sum().alias("expected"),
        *[(outcome == name).sum().alias(name) for name in OUTCOMES],
        ((outcome == "mismatched") & ~pl.col("fields_equal")).sum().alias("mismatched_fields"),
        ((outcome == "mismatched") & pl.col("fields_equal")).sum().alias("mismatched_status"),
        pl.col("erp_documents").filter(outcome == "orphaned").sum().alias("orphaned"),
        ((outcome == "missing") & pl.col("in_flight")).sum().alias("in_flight"),
    ).row(0, named=True)
    return {key: int(value or 0) for key, value in row.items()}


def accuracy_by_group(tables: Mapping[str, pl.DataFrame]) -> list[dict]:
    """Matched amount over expected amount per reconciliation, entity and currency.

    Amounts of different currencies are never added, nor those of different reconciliations (a
    large invoice total would hide a payment reconciliation that failed): each reconciliation's
    (entity, currency) of the oracle is its own group. A group with nothing expected has accuracy
    1.0.

    Parameters
    ----------
    tables
        Reconciliation name -> its table (`invoice_table`, `payment_table`, `reversal_table`).

    Returns
    -------
    list of dict
        ``{reconciliation, entity, currency, expected_amount_minor, matched_amount_minor,
        accuracy}``, sorted by reconciliation, entity and currency.
    """
    columns = ["oracle_entity", "oracle_currency", "oracle_amount_minor", "outcome"]
    expected = pl.concat(
        [
            table.select(columns).filter(pl.col("oracle_entity").is_not_null())
            .with_columns(pl.lit(name).alias("reconciliation"))
            for name, table in tables.items()
        ]
    )
    groups = (
        expected.group_by("reconciliation", entity="oracle_entity", currency="oracle_currency")
        .agg(
            pl.col("oracle_amount_minor").sum().alias("expected_amount_minor"),
            pl.col("oracle_amount_minor")
            .filter(pl.col("outcome") == "matched")
            .sum()
            .alias("matched_amount_minor"),
        )
        .with_columns(
            pl.when(pl.col("expected_amount_minor") == 0)
            .then(1.0)
            .otherwise(pl.col("matched_amount_minor") / pl.col("expected_amount_minor"))
            .alias("accuracy")
        )
        .sort("reconciliation", "entity", "currency")
    )
    return groups.to_dicts()
