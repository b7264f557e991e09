"""The trace record: one row per business or technical step, the same columns for every kind.

A trace is the product of a run: reports are pure functions of it. Every row has the columns below;
a kind leaves the ones it does not use at their empty value ("" or 0). Kinds are namespaced by the
system that emits them (``billing.``, ``payments.``, ``webhook.``, ``engine.``, ``erp.``,
``oracle.``, ``run.``); `KINDS` documents what each one puts in which column.
"""

from __future__ import annotations

# (column, polars dtype name, empty value). Order is the file's column order.
COLUMNS: tuple[tuple[str, str, object], ...] = (
    ("t_s", "Float64", 0.0),  # Unix seconds, virtual under simulation
    ("kind", "String", ""),
    ("object_id", "String", ""),  # the record's own id (event, invoice, charge, ERP internal id...)
    ("ref_id", "String", ""),  # the source object it is about
    ("parent_id", "String", ""),  # what it depends on or applies to
    ("entity", "String", ""),
    ("currency", "String", ""),
    ("amount_minor", "Int64", 0),
    ("tax_minor", "Int64", 0),
    ("debit_minor", "Int64", 0),
    ("credit_minor", "Int64", 0),
    ("period", "String", ""),  # "YYYY-MM"
    ("code", "String", ""),  # a type, status or error code
    ("detail", "String", ""),  # free detail, e.g. service periods "start-end;start-end"
    ("value", "Float64", 0.0),  # a number in the unit the kind states
)

COLUMN_NAMES = tuple(name for name, _, _ in COLUMNS)

KINDS: dict[str, str] = {
    "fault.injected": "object_id=what it hit (external id of an ERP call, object of a webhook, "
    "'engine'), code=fault kind, detail=fault name",
    "fault.window": "t_s=window start, value=window end (s), code=fault kind, detail=fault name",
    "operator.fixed": "object_id=what the simulated operator fixed, code=the fault it undid "
    "(dead_letters: it replayed the dead-letter queue), value=events replayed",
    "run.start": "code=scenario name, detail=resolved parameters (JSON), value=seed",
    "run.healed": "t_s=end of the traffic window: faults stop, the liveness phase begins",
    "run.end": "t_s=cut-off, code=drained|drain_limit",
    "safety.violation": "object_id=source id, code=invariant (I4, I12, I13, I14), detail=reason, "
    "as it happens",
    "crm.deal_won": "object_id=opportunity, ref_id=account, entity, code=price",
    "crm.deal_amended": "object_id=opportunity, ref_id=account, code=new price",
    "crm.account_churned": "object_id=account, entity",
    "billing.customer_created": "object_id=customer, entity, currency",
    "billing.subscription_status": "object_id=subscription, ref_id=customer, code=new status",
    "billing.invoice_created": "object_id=invoice (draft), ref_id=customer, amount/tax",
    "billing.invoice_finalized": "object_id=invoice, ref_id=customer, amount=total, tax, period",
    "billing.invoice_paid": "object_id=invoice, amount=total",
    "billing.invoice_payment_failed": "object_id=invoice, code=decline code",
    "billing.invoice_voided": "object_id=invoice, amount=total",
    "billing.invoice_uncollectible": "object_id=invoice, amount=total",
    "payments.charge_succeeded": "object_id=charge, parent_id=invoice, amount",
    "payments.charge_failed": "object_id=charge, parent_id=invoice, code=decline code",
    "payments.charge_reversed": "object_id=charge, parent_id=invoice, amount, code=bank return code",
    "billing.invoice_reopened": "object_id=invoice, ref_id=returned charge, amount, code=return code",
    "billing.payment_unknown": "object_id=invoice, detail=idempotency key of the timed-out attempt",
    "billing.payment_looked_up": "object_id=invoice, detail=idempotency key, code=charge status or not_found",
    "webhook.duplicated": "object_id=event, ref_id=object, code=event type, value=delay of the copy s",
    "webhook.failed": "object_id=event, ref_id=object, code=dropped|receiver_down|not_acknowledged|timeout, "
    "value=attempt number",
    "webhook.lost": "object_id=event, ref_id=object, code=event type, value=attempts (the sender gave up)",
    "engine.received": "object_id=event, ref_id=object, code=event type; one record per delivery: "
    "received (it may change what is posted), or one of the three below",
    "engine.duplicate_dropped": "object_id=event, ref_id=object, code=event type",
    "engine.stale_dropped": "object_id=event, ref_id=object, code=event type",
    "engine.ignored": "object_id=event, ref_id=object, code=event type",
    "engine.superseded": "object_id=external id, code=document type",
    "engine.held": "object_id=external id, parent_id=awaited external id, code=document type",
    "engine.queued": "object_id=external id, ref_id=source, code=document type",
    "engine.retry": "object_id=external id, code=error code, value=delay in seconds",
    "engine.lookup": "object_id=external id, code=found|absent",
    "engine.rerouted": "object_id=external id, period=new posting period, detail=original period",
    "engine.posted": "object_id=external id, ref_id=source, code=document type, value=attempts",
    "engine.exception_opened": "object_id=external id, ref_id=source, code=reason, detail=owner",
    "engine.exception_resolved": "object_id=external id, code=resolution",
    "engine.crashed": "value=generation (crash count)",
    "engine.restarted": "value=postings recovered from the Store and queued again",
    "engine.gap_filled": "value=objects the sweep found that the engine had never heard of",
    "engine.batch": "object_id=batch id (batch pattern), value=documents staged for the bulk post, "
    "detail=how many wait for a parent and how many are untaxed",
    "billing.listed": "code=what was listed (customers, invoices, charges), value=how many",
    "billing.read": "object_id=charge or invoice re-read by the engine, code=its status now (or missing)",
    "engine.rechecked": "object_id=earlier bank debit on an invoice, ref_id=invoice, "
    "code=reversed|not_reversed|failed (what billing said before a second payment, a write-off or a void); "
    "or object_id=ref_id=invoice about to be written off, code=its status in billing now, or failed",
    "engine.circuit": "code=open|half_open|closed (the ERP circuit breaker's new state), "
    "value=failures in a row",
    "engine.dead_lettered": "object_id=event, ref_id=object, code=event type, detail=why it could not be "
    "mapped or posted ('dropped: ...' without a dead-letter queue, 'refused: ...' when p2p answered 500)",
    "engine.inflight": "object_id=external id, ref_id=source, code=document type (at cut-off)",
    "erp.call": "object_id=external id, code=HTTP status or ERP error code, value=latency s",
    "erp.document": "object_id=ERP internal id, ref_id=source, parent_id=applied-to external id, "
    "code=document type, amount/tax, debit/credit=journal totals, period=posting period, "
    "detail=service periods",
    "erp.payment_applied": "object_id=ERP payment id, ref_id=charge, parent_id=invoice, amount",
    "erp.payment_unapplied": "object_id=ERP payment id, ref_id=charge, amount left unapplied (a "
    "current amount, not a change)",
    "erp.payment_reversed": "object_id=ERP payment id, ref_id=charge, parent_id=invoice, amount=the "
    "payment's amount, taken back by a reversal",
    "erp.period_closed": "entity (or '*'), period",
    "oracle.customer": "object_id=customer, entity, currency",
    "oracle.invoice": "object_id=invoice, ref_id=customer, entity, currency, amount=total, tax, "
    "period=date period, "
    "code=expected ERP state (open|paid|void|written_off), detail=service periods",
    "oracle.exception": "object_id=invoice, ref_id=customer, code=the reason the engine must raise "
    "(tax_incomplete), amount: an invoice that must reach a person, not the ERP",
    "billing.tax_failed": "object_id=invoice, ref_id=customer, code=tax engine error code, detail=message",
    "oracle.payment": "object_id=charge, parent_id=invoice, ref_id=customer, entity, currency, amount",
    "oracle.reversal": "object_id=charge, parent_id=invoice, ref_id=customer, entity, currency, amount",
}
