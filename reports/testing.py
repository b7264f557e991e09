"""Builders of small hand-made traces, for tests of the reports and of anything that feeds them.

Each builder returns trace records (dicts) for one source object as a well-behaved run would write
them: the source event, the oracle's expectation and the ERP's documents. Keyword arguments bend one
part at a time (no ERP document, two of them, a different amount...), so a test states only what it
is about. `rehearse.reports.trace_frame` turns the records into a frame.

Examples
--------
>>> from rehearse.reports import trace_frame
>>> trace = trace_frame([*run_rows(0.0, 86_400.0), *invoice_rows("in_1", erp_copies=2)])
>>> trace.filter(trace["kind"] == "erp.document").height
2
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from rehearse.reports.frame import trace_frame

__all__ = ["invoice_rows", "payment_rows", "run_rows", "trace_frame"]

Record = dict[str, object]

SERVICE_PERIODS = "2024-01-01/2024-01-31"
PERIOD = "2024-01"


def run_rows(
    start_t_s: float, end_t_s: float, *, scenario: str = "test", seed: int = 0
) -> list[Record]:
    """``run.start`` and ``run.end`` (the cut-off)."""
    return [
        {"t_s": start_t_s, "kind": "run.start", "code": scenario, "value": float(seed)},
        {"t_s": end_t_s, "kind": "run.end"},
    ]


def invoice_rows(
    invoice_id: str,
    *,
    customer_id: str = "cus_1",
    entity: str = "E1",
    currency: str = "USD",
    amount_minor: int = 10_000,
    tax_minor: int = 1_000,
    expected_state: str = "open",
    finalized_t_s: float = 1_000.0,
    erp_t_s: float | None = 1_060.0,
    erp_copies: int = 1,
    erp_overrides: Mapping[str, object] | None = None,
    oracle: bool = True,
) -> list[Record]:
    """A finalized invoice, the oracle's expectation and its ERP invoice document(s).

    Parameters
    ----------
    invoice_id
        The source invoice id (the ERP document's ``ref_id``).
    expected_state
        The oracle's expected final ERP state (open, paid, void, written_off). Add the voids,
        write-offs and payments that make the ERP agree separately.
    erp_t_s
        When the ERP invoice is written; None writes none.
    erp_copies
        How many ERP invoice documents (2 or more is a duplicate).
    erp_overrides
        Columns of the ERP document(s) that differ from the source (e.g. ``{"amount_minor": 1}``).
    oracle
        False leaves the oracle row out (the ERP invoice becomes an orphan).
    """
    shared = {
        "entity": entity,
        "currency": currency,
        "amount_minor": amount_minor,
        "tax_minor": tax_minor,
    }
    records: list[Record] = [
        {
            "t_s": finalized_t_s,
            "kind": "billing.invoice_finalized",
            "object_id": invoice_id,
            "ref_id": customer_id,
            "period": PERIOD,
            **shared,
        }
    ]
    if erp_t_s is not None:
        for copy in range(erp_copies):
            document: Record = {
                "t_s": erp_t_s + copy,
                "kind": "erp.document",
                "object_id": f"erp_{invoice_id}_{copy}",
                "ref_id": invoice_id,
                "parent_id": customer_id,
                "debit_minor": amount_minor,
                "credit_minor": amount_minor,
                "period": PERIOD,
                "code": "invoice",
                "detail": SERVICE_PERIODS,
                **shared,
            }
            records.append({**document, **(erp_overrides or {})})
    if oracle:
        records.append(
            {
                "t_s": 0.0,
                "kind": "oracle.invoice",
                "object_id": invoice_id,
                "ref_id": customer_id,
                "period": PERIOD,
                "code": expected_state,
                "detail": SERVICE_PERIODS,
                **shared,
            }
        )
    return records


def payment_rows(
    charge_id: str,
    invoice_id: str,
    *,
    customer_id: str = "cus_1",
    entity: str = "E1",
    currency: str = "USD",
    amount_minor: int = 10_000,
    unapplied_minor: int = 0,
    succeeded_t_s: float = 2_000.0,
    erp_t_s: float | None = 2_030.0,
    erp_copies: int = 1,
    erp_overrides: Mapping[str, object] | None = None,
    oracle: bool = True,
) -> list[Record]:
    """A succeeded charge, the oracle's expected payment and the ERP payment applied to the invoice.

    The ERP payment applies ``amount_minor - unapplied_minor`` to the document's ``parent_id`` and
    leaves ``unapplied_minor`` unapplied (an ``erp.payment_unapplied`` row when it is not 0).
    Other parameters as in `invoice_rows`.
    """
    shared = {"entity": entity, "currency": currency, "amount_minor": amount_minor}
    records: list[Record] = [
        {
            "t_s": succeeded_t_s,
            "kind": "payments.charge_succeeded",
            "object_id": charge_id,
            "parent_id": invoice_id,
            **shared,
        }
    ]
    if erp_t_s is not None:
        for copy in range(erp_copies):
            document: Record = {
                "t_s": erp_t_s + copy,
                "kind": "erp.document",
                "object_id": f"erp_{charge_id}_{copy}",
                "ref_id": charge_id,
                "parent_id": invoice_id,
                "debit_minor": amount_minor,
                "credit_minor": amount_minor,
                "period": PERIOD,
                "code": "payment",
                **shared,
            }
            document = {**document, **(erp_overrides or {})}
            records.append(document)
            records.append(
                {
                    "t_s": erp_t_s + copy,
                    "kind": "erp.payment_applied",
                    "object_id": document["object_id"],
                    "ref_id": charge_id,
                    "parent_id": document["parent_id"],
                    "amount_minor": int(cast(int, document["amount_minor"])) - unapplied_minor,
                }
            )
            if unapplied_minor:
                records.append(
                    {
                        "t_s": erp_t_s + copy,
                        "kind": "erp.payment_unapplied",
                        "object_id": document["object_id"],
                        "ref_id": charge_id,
                        "amount_minor": unapplied_minor,
                    }
                )
    if oracle:
        records.append(
            {
                "t_s": 0.0,
                "kind": "oracle.payment",
                "object_id": charge_id,
                "parent_id": invoice_id,
                "ref_id": customer_id,
                **shared,
            }
        )
    return records
