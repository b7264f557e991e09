"""Invariant checks at the cut-off (DOMAIN.md 9): small read-only functions, one per invariant.

Each check takes the trace split by kind and the invoice reconciliation table and returns
``{id, holds, detail}``; ``detail`` is a short sentence with counts and, when the invariant fails,
up to `EXAMPLE_IDS_MAX` example ids. Sources still in the engine's in-flight set at the cut-off are
named and excluded where the invariant says so (I1 counts them, I2 and I3 skip them).
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from rehearse.reports.frame import ROW_NUMBER, KindFrames
from rehearse.reports.reconcile import erp_documents_per_source, in_flight_sources, invoice_markers
from rehearse.sync.model import DOCUMENT_TYPES

__all__ = ["CHECKS", "check_invariants"]

EXAMPLE_IDS_MAX = 3  # enough to start an investigation, short enough for a table cell

Check = Callable[[KindFrames, pl.DataFrame], dict]


def _result(invariant_id: str, failures: pl.Series, holds_text: str, fails_text: str) -> dict:
    """``failures`` holds the ids that break the invariant; texts are formatted with ``n``."""
    count = failures.len()
    if count == 0:
        return {"id": invariant_id, "holds": True, "detail": holds_text}
    examples = ", ".join(failures.unique().sort().head(EXAMPLE_IDS_MAX).cast(pl.String).to_list())
    return {
        "id": invariant_id,
        "holds": False,
        "detail": f"{fails_text.format(n=count)} (e.g. {examples})",
    }


def _documents(frames: KindFrames, document_type: str) -> pl.DataFrame:
    return frames.get("erp.document").filter(pl.col("code") == document_type)


def check_money_conserved(frames: KindFrames, invoices: pl.DataFrame) -> dict:
    """I1: per entity/currency: oracle non-void invoices = ERP invoices minus ERP voids + in flight.

    In flight counts both ways: an invoice whose ERP invoice is on its way adds its amount; a
    voided invoice whose ERP invoice is posted and whose void is on its way takes it off."""
    key = ["entity", "currency"]
    oracle = invoices.filter(pl.col("oracle_object_id").is_not_null())
    billing = (
        oracle.filter(pl.col("oracle_code") != "void")
        .group_by(entity="oracle_entity", currency="oracle_currency")
        .agg(pl.col("oracle_amount_minor").sum().alias("billing_minor"))
    )
    # Each void takes its amount off, so an invoice posted twice and voided once still counts once.
    erp = (
        frames.get("erp.document")
        .filter(pl.col("code").is_in(["invoice", "void"]))
        .group_by(key)
        .agg(
            pl.when(pl.col("code") == "void").then(-pl.col("amount_minor")).otherwise(pl.col("amount_minor"))
            .sum().alias("erp_minor")
        )
    )
    invoice_on_its_way = pl.col("in_flight") & (pl.col("erp_documents") == 0) & (pl.col("oracle_code") != "void")
    void_on_its_way = (
        pl.col("void_in_flight").fill_null(False) & (pl.col("erp_documents") > 0) & ~pl.col("has_void")
        & (pl.col("oracle_code") == "void")
    )
    in_flight = (
        oracle.join(in_flight_sources(frames, "void").rename({"in_flight": "void_in_flight"}), on="source_id",
                    how="left")
        .filter(invoice_on_its_way | void_on_its_way)
        .group_by(entity="oracle_entity", currency="oracle_currency")
        .agg(
            pl.when(void_on_its_way).then(-pl.col("oracle_amount_minor")).otherwise(pl.col("oracle_amount_minor"))
            .sum().alias("in_flight_minor"),
            pl.len().alias("in_flight_documents"),
        )
    )
    groups = (
        billing.join(erp, on=key, how="full", coalesce=True)
        .join(in_flight, on=key, how="full", coalesce=True)
        .with_columns(pl.col("billing_minor", "erp_minor", "in_flight_minor", "in_flight_documents").fill_null(0))
        .sort(key)
    )
    off = groups.filter(pl.col("billing_minor") != pl.col("erp_minor") + pl.col("in_flight_minor"))
    in_flight_documents = int(groups["in_flight_documents"].sum())  # amounts are never added across currencies
    labels = off.select(
        pl.format(
            "{}/{} billing {} vs ERP {} + in flight {}",
            "entity",
            "currency",
            "billing_minor",
            "erp_minor",
            "in_flight_minor",
        )
    ).to_series()
    return _result(
        "I1",
        labels,
        f"{groups.height} entity/currency groups balance ({in_flight_documents} invoices and voids in flight)",
        f"{{n}} of {groups.height} entity/currency groups out of balance",
    )


def check_one_erp_invoice_each(frames: KindFrames, invoices: pl.DataFrame) -> dict:
    """I2: each oracle invoice has exactly one equal ERP invoice; no ERP invoice lacks a source."""
    oracle = invoices.filter(pl.col("oracle_object_id").is_not_null())
    waiting = oracle.filter(pl.col("in_flight") & (pl.col("erp_documents") == 0))
    failing = oracle.filter(
        ~(pl.col("in_flight") & (pl.col("erp_documents") == 0))
        & ((pl.col("erp_documents") != 1) | ~pl.col("fields_equal"))
    )["source_id"]
    orphans = invoices.filter(pl.col("oracle_object_id").is_null())["source_id"]
    failures = pl.concat([failing, orphans.fill_null("")])
    return _result(
        "I2",
        failures,
        f"all {oracle.height - waiting.height} invoices have exactly one equal ERP invoice "
        f"({waiting.height} in flight); no ERP invoice without a source",
        f"{failing.len()} of {oracle.height} invoices lack exactly one equal ERP invoice, "
        f"{orphans.len()} ERP invoice sources have no oracle invoice",
    )


def _invoices_in_flight(frames: KindFrames) -> pl.DataFrame:
    """Invoice ids touched by an in-flight posting: the invoice itself or a charge paying it."""
    inflight = frames.get("engine.inflight").select(pl.col("ref_id").alias("source_id"))
    charges = frames.get("oracle.payment").select(
        pl.col("object_id").alias("source_id"), pl.col("parent_id").alias("invoice_id")
    )
    via_charge = inflight.join(charges, on="source_id", how="inner").select(
        pl.col("invoice_id").alias("source_id")
    )
    return pl.concat([inflight, via_charge]).unique()


def check_states_reflected(frames: KindFrames, invoices: pl.DataFrame) -> dict:
    """I3: paid => fully applied; void => void exists; written_off => write-off exists.

    Invoices touched by an in-flight posting (their own or a payment's) are skipped.
    """
    checked = invoices.filter(pl.col("oracle_code").is_in(["paid", "void", "written_off"])).join(
        _invoices_in_flight(frames), on="source_id", how="anti"
    )
    fully_applied = (pl.col("erp_documents") > 0) & (
        pl.col("applied_minor") >= pl.col("erp_amount_minor")
    )
    reflected = (
        pl.when(pl.col("oracle_code") == "paid")
        .then(fully_applied)
        .when(pl.col("oracle_code") == "void")
        .then(pl.col("has_void"))
        .otherwise(pl.col("has_writeoff"))
        .fill_null(False)
    )
    failures = checked.filter(~reflected)["source_id"]
    return _result(
        "I3",
        failures,
        f"all {checked.height} paid, void or written-off invoices are reflected in the ERP",
        f"{{n}} of {checked.height} paid, void or written-off invoices not reflected in the ERP",
    )


def check_applications(frames: KindFrames, invoices: pl.DataFrame) -> dict:
    """I4: per ERP invoice applied <= amount; per ERP payment applied + unapplied = amount (zero
    for a reversed payment: a reversal takes back both)."""
    per_invoice = (
        invoice_markers(frames)
        .filter(pl.col("applied_minor") != 0)
        .join(erp_documents_per_source(frames, "invoice"), on="source_id", how="left")
    )
    over_applied = per_invoice.filter(
        pl.col("applied_minor") > pl.col("erp_amount_minor").fill_null(0)
    )["source_id"]
    zero = pl.lit(0, dtype=pl.Int64)
    amount = pl.col("amount_minor")
    per_payment = (
        pl.concat(
            [
                _documents(frames, "payment").select(
                    "object_id", amount, zero.alias("applied"), zero.alias("unapplied")
                ),
                frames.get("erp.payment_applied").select(
                    "object_id",
                    zero.alias("amount_minor"),
                    amount.alias("applied"),
                    zero.alias("unapplied"),
                ),
                frames.get("erp.payment_reversed").select(
                    "object_id",
                    (-amount).alias("amount_minor"),
                    zero.alias("applied"),
                    zero.alias("unapplied"),
                ),
                # "amount left unapplied" is a state: the last row per payment counts
                frames.get("erp.payment_unapplied")
                .unique(subset="object_id", keep="last")
                .select(
                    "object_id",
                    zero.alias("amount_minor"),
                    zero.alias("applied"),
                    amount.alias("unapplied"),
                ),
            ]
        )
        .group_by("object_id")
        .agg(pl.col("amount_minor", "applied", "unapplied").sum())
    )
    unbalanced = per_payment.filter(
        pl.col("applied") + pl.col("unapplied") != pl.col("amount_minor")
    )["object_id"]
    return _result(
        "I4",
        pl.concat([over_applied, unbalanced]),
        f"{per_invoice.height} invoices within their amount; "
        f"{per_payment.height} payments applied + unapplied = amount",
        f"{over_applied.len()} invoices applied beyond their amount, "
        f"{unbalanced.len()} payments with applied + unapplied != amount",
    )


def check_entries_balance(frames: KindFrames, invoices: pl.DataFrame) -> dict:
    """I12: every ERP document's journal balances (debit = credit)."""
    documents = frames.get("erp.document")
    failures = documents.filter(pl.col("debit_minor") != pl.col("credit_minor"))["object_id"]
    return _result(
        "I12",
        failures,
        f"all {documents.height} ERP documents balance",
        f"{{n}} of {documents.height} ERP documents do not balance",
    )


def check_no_duplicate_documents(frames: KindFrames, invoices: pl.DataFrame) -> dict:
    """I13: at most one ERP document per (source id, type): customer, invoice, payment, void,
    write-off, reversal (a customer upserted by external id is one document however often sent)."""
    per_key = pl.concat(
        [
            erp_documents_per_source(frames, document_type).select(
                pl.lit(document_type).alias("code"), "source_id", "erp_documents"
            )
            for document_type in DOCUMENT_TYPES  # every type: at most one document per source
        ]
    ).filter(pl.col("source_id") != "")
    failures = per_key.filter(pl.col("erp_documents") > 1).select(
        pl.format("{}:{}", "code", "source_id")
    )
    return _result(
        "I13",
        failures.to_series(),
        f"{per_key.height} (source, type) pairs have one ERP document each",
        f"{{n}} of {per_key.height} (source, type) pairs have more than one ERP document",
    )


def check_closed_periods(frames: KindFrames, invoices: pl.DataFrame) -> dict:
    """I14: no ERP transaction posted into an (entity, period) at or after that period was closed."""
    closed = frames.get("erp.period_closed")
    # The first closing of each (entity, period), and of each period for every entity ("*"), with
    # its place in the trace: a document traced in the same instant but before the closing was
    # posted while the period was open.
    first = [pl.col("t_s").min(), pl.col(ROW_NUMBER).sort_by("t_s", ROW_NUMBER).first()]
    per_entity = (
        closed.group_by("entity", "period").agg(*first).rename({"t_s": "closed_t_s", ROW_NUMBER: "closed_row"})
    )
    every_entity = (
        closed.filter(pl.col("entity") == "*")
        .group_by("period")
        .agg(*first)
        .rename({"t_s": "closed_all_t_s", ROW_NUMBER: "closed_all_row"})
    )
    # Customers are master data, booked in no period; an outside engine may still send one with a
    # period, so only transactions count.
    documents = frames.get("erp.document").filter((pl.col("period") != "") & (pl.col("code") != "customer"))

    def after(t_s: str, row: str) -> pl.Expr:
        return (pl.col("t_s") > pl.col(t_s)) | ((pl.col("t_s") == pl.col(t_s)) & (pl.col(ROW_NUMBER) > pl.col(row)))

    late = (
        documents.join(per_entity, on=["entity", "period"], how="left")
        .join(every_entity, on="period", how="left")
        .filter(after("closed_t_s", "closed_row").fill_null(False)
                | after("closed_all_t_s", "closed_all_row").fill_null(False))
    )
    return _result(
        "I14",
        late["object_id"],
        f"no ERP document in a closed period ({closed.height} period closings)",
        f"{{n}} of {documents.height} ERP documents posted into a closed period",
    )


def check_one_entity(frames: KindFrames, invoices: pl.DataFrame) -> dict:
    """I16: payment, invoice and customer share one entity.

    Customers preloaded before the run have no ERP customer document in the trace: skipped.
    """
    invoice_entity = erp_documents_per_source(frames, "invoice").select(
        "source_id", pl.col("erp_entity").alias("invoice_entity")
    )
    customer_entity = erp_documents_per_source(frames, "customer").select(
        "source_id", pl.col("erp_entity").alias("customer_entity")
    )
    payments = _documents(frames, "payment").join(
        invoice_entity, left_on="parent_id", right_on="source_id", how="inner"
    )
    across_payments = payments.filter(pl.col("entity") != pl.col("invoice_entity"))["object_id"]
    erp_invoices = _documents(frames, "invoice").join(
        customer_entity, left_on="parent_id", right_on="source_id", how="inner"
    )
    across_invoices = erp_invoices.filter(pl.col("entity") != pl.col("customer_entity"))[
        "object_id"
    ]
    return _result(
        "I16",
        pl.concat([across_payments, across_invoices]),
        f"{payments.height} payments and {erp_invoices.height} invoices "
        "share their parent's entity",
        f"{across_payments.len()} payments and {across_invoices.len()} invoices "
        "in another entity than their parent",
    )


CHECKS: dict[str, Check] = {
    "I1": check_money_conserved,
    "I2": check_one_erp_invoice_each,
    "I3": check_states_reflected,
    "I4": check_applications,
    "I12": check_entries_balance,
    "I13": check_no_duplicate_documents,
    "I14": check_closed_periods,
    "I16": check_one_entity,
}


def check_invariants(frames: KindFrames, invoices: pl.DataFrame) -> list[dict]:
    """Run every check in `CHECKS`.

    Parameters
    ----------
    frames
        The trace split by kind.
    invoices
        The invoice reconciliation table (`rehearse.reports.reconcile.invoice_table`).

    Returns
    -------
    list of dict
        ``{id, holds, detail}`` per invariant, in the order of DOMAIN.md (I1, I2, I3, I4, I12, I13,
        I14, I16).
    """
    return [check(frames, invoices) for check in CHECKS.values()]
