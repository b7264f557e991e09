"""The safety monitor: forwards every record, and traces each invariant violation as it happens."""

import inspect

import pytest

from rehearse.sim.recorder import TraceRecorder
from rehearse.sim.safety import SafetyMonitor


def monitor():
    recorder = TraceRecorder()
    return SafetyMonitor(recorder), recorder


def document(monitor, t_s, doc_type, source, amount=1000, debit=1000, credit=1000, period="2026-02",
             entity="US01", parent=""):
    monitor.emit(t_s, "erp.document", object_id=f"{t_s}", ref_id=source, parent_id=parent, entity=entity,
                 currency="USD", amount_minor=amount, debit_minor=debit, credit_minor=credit, period=period,
                 code=doc_type)


def violations(recorder):
    return recorder.frame().filter(kind="safety.violation").select("t_s", "code", "object_id").rows()


def test_a_clean_sequence_is_forwarded_and_raises_nothing():
    safety, recorder = monitor()
    document(safety, 1.0, "invoice", "in_1")
    safety.emit(2.0, "erp.payment_applied", object_id="9", ref_id="ch_1", parent_id="in_1", amount_minor=600)
    safety.emit(3.0, "erp.payment_applied", object_id="10", ref_id="ch_2", parent_id="in_1", amount_minor=400)
    assert violations(recorder) == [] and safety.violations == {}
    assert recorder.frame().height == 3


def test_each_invariant_is_caught_with_its_time():
    safety, recorder = monitor()
    document(safety, 1.0, "invoice", "in_1")
    document(safety, 2.0, "invoice", "in_1")  # I13: a second ERP invoice for in_1
    document(safety, 3.0, "payment", "ch_1", debit=1000, credit=900)  # I12: does not balance
    safety.emit(4.0, "erp.period_closed", entity="*", period="2026-01")
    document(safety, 5.0, "invoice", "in_2", period="2026-01")  # I14: into a closed period
    safety.emit(6.0, "erp.payment_applied", object_id="9", ref_id="ch_2", parent_id="in_2", amount_minor=1500)  # I4
    assert violations(recorder) == [(2.0, "I13", "in_1"), (3.0, "I12", "ch_1"), (5.0, "I14", "in_2"),
                                     (6.0, "I4", "in_2")]
    assert safety.violations == {"I13": 1, "I12": 1, "I14": 1, "I4": 1}


@pytest.mark.parametrize("doc_type", ["customer", "reversal"])
def test_a_second_customer_or_reversal_of_one_source_breaks_i13(doc_type):
    safety, recorder = monitor()
    document(safety, 1.0, doc_type, "x_1", period="")
    document(safety, 2.0, doc_type, "x_1", period="")
    assert violations(recorder) == [(2.0, "I13", "x_1")]


def test_a_settled_invoice_leaves_the_open_map_and_more_money_on_it_is_over_application():
    safety, recorder = monitor()
    document(safety, 1.0, "invoice", "in_1")
    safety.emit(2.0, "erp.payment_applied", object_id="9", ref_id="ch_1", parent_id="in_1", amount_minor=1000)
    safety.emit(3.0, "erp.payment_applied", object_id="10", ref_id="ch_2", parent_id="in_1", amount_minor=0)
    assert violations(recorder) == []  # nothing applied to a paid invoice is fine
    safety.emit(4.0, "erp.payment_applied", object_id="11", ref_id="ch_3", parent_id="in_1", amount_minor=1)
    assert violations(recorder) == [(4.0, "I4", "in_1")]


def test_a_period_closed_for_one_entity_only_concerns_that_entity():
    safety, recorder = monitor()
    safety.emit(1.0, "erp.period_closed", entity="EU01", period="2026-01")
    document(safety, 2.0, "invoice", "in_1", period="2026-01", entity="US01")
    document(safety, 3.0, "invoice", "in_2", period="2026-01", entity="EU01")
    assert violations(recorder) == [(3.0, "I14", "in_2")]


def test_emit_takes_the_recorders_parameters():
    recorder_parameters = inspect.signature(TraceRecorder.emit).parameters
    monitor_parameters = inspect.signature(SafetyMonitor.emit).parameters
    assert [(p.name, p.kind, p.default) for p in monitor_parameters.values()] == [
        (p.name, p.kind, p.default) for p in recorder_parameters.values()]


def test_an_unknown_column_is_refused_naming_the_kind_and_nothing_is_recorded():
    safety, recorder = monitor()
    with pytest.raises(TypeError, match="'erp.document': unknown columns \\['colour'\\]"):
        safety.emit(1.0, "erp.document", ref_id="in_1", code="invoice", colour="red")
    assert len(recorder) == 0
