"""Unit tests of the trace recorder: one frame in the trace's column layout, rows in emission order
across kinds, the same result whether records are chunked, spilled to disk or kept whole."""

from __future__ import annotations

import inspect

import polars as pl
import pytest

import rehearse.sim.recorder as recorder_module
from rehearse.sim.recorder import RecordedTrace, TraceRecorder
from rehearse.sync.trace import COLUMNS

DTYPES = {"Float64": pl.Float64, "Int64": pl.Int64, "String": pl.String}
EXPECTED_SCHEMA = pl.Schema({name: DTYPES[dtype] for name, dtype, _ in COLUMNS})
EMPTY = {name: empty for name, _, empty in COLUMNS}


def emit_mixed(recorder: TraceRecorder, count: int) -> None:
    """`count` records over four keyword sets (two of them for the same kind), interleaved."""
    for index in range(count):
        t_s = 1000.0 + index
        match index % 4:
            case 0:
                recorder.emit(t_s, "erp.call", object_id=f"in_{index}", code="201", value=0.25 * index)
            case 1:
                recorder.emit(t_s, "billing.invoice_finalized", object_id=f"in_{index}", ref_id="cus_1",
                              amount_minor=100 * index, tax_minor=index, period="2026-01")
            case 2:
                recorder.emit(t_s, "erp.call", object_id=f"in_{index}", code="lookup 404", value=0.5)
            case 3:
                recorder.emit(t_s, "run.end")


def test_frame_has_the_trace_columns_in_order_with_their_dtypes():
    recorder = TraceRecorder()
    recorder.emit(1.0, "erp.call", object_id="in_1", code="201", value=0.2)
    frame = recorder.frame()
    assert frame.columns == [name for name, _, _ in COLUMNS]
    assert frame.schema == EXPECTED_SCHEMA


def test_rows_keep_emission_order_across_kinds_and_unused_columns_are_empty():
    recorder = TraceRecorder()
    recorder.emit(5.0, "erp.call", object_id="in_1", code="201", value=0.2)
    recorder.emit(1.0, "payments.charge_succeeded", object_id="ch_1", parent_id="in_1", amount_minor=1200)
    recorder.emit(3.0, "erp.call", object_id="in_2", code="429", value=0.05)
    recorder.emit(2.0, "run.end")
    frame = recorder.frame()
    assert len(recorder) == 4
    assert frame["kind"].to_list() == ["erp.call", "payments.charge_succeeded", "erp.call", "run.end"]
    assert frame["t_s"].to_list() == [5.0, 1.0, 3.0, 2.0]  # emission order, not time order
    rows = frame.to_dicts()
    assert rows[1] == {**EMPTY, "t_s": 1.0, "kind": "payments.charge_succeeded", "object_id": "ch_1",
                       "parent_id": "in_1", "amount_minor": 1200}
    assert rows[3] == {**EMPTY, "t_s": 2.0, "kind": "run.end"}


def test_the_same_kind_may_emit_different_keyword_sets():
    recorder = TraceRecorder()
    recorder.emit(1.0, "erp.call", object_id="in_1", code="201", value=0.2)
    recorder.emit(2.0, "erp.call", code="lookup 200", object_id="in_1")
    recorder.emit(3.0, "erp.call", object_id="in_2")
    frame = recorder.frame()
    assert frame.select("object_id", "code", "value").rows() == [
        ("in_1", "201", 0.2), ("in_1", "lookup 200", 0.0), ("in_2", "", 0.0),
    ]


def test_integers_are_accepted_in_float_columns():
    recorder = TraceRecorder()
    recorder.emit(7, "engine.retry", object_id="in_1", value=3)
    assert recorder.frame().select("t_s", "value").rows() == [(7.0, 3.0)]


def test_an_unknown_column_raises_type_error_naming_the_kind():
    recorder = TraceRecorder()
    with pytest.raises(TypeError, match=r"'erp\.call'.*amount_cents"):
        recorder.emit(1.0, "erp.call", object_id="in_1", amount_cents=5)
    assert len(recorder) == 0
    assert recorder.frame().height == 0


def test_an_empty_recorder_gives_an_empty_frame_with_the_schema(tmp_path):
    for recorder in (TraceRecorder(), TraceRecorder(spill_dir=tmp_path)):
        frame = recorder.frame()
        assert frame.height == 0
        assert frame.schema == EXPECTED_SCHEMA
    assert list(tmp_path.iterdir()) == []


def test_frame_can_be_called_twice_and_again_after_more_records():
    recorder = TraceRecorder()
    emit_mixed(recorder, 6)
    first = recorder.frame()
    assert recorder.frame().equals(first)
    recorder.emit(99.0, "run.end")
    again = recorder.frame()
    assert again.height == 7
    assert again.head(6).equals(first)
    assert again.row(6, named=True) == {**EMPTY, "t_s": 99.0, "kind": "run.end"}


def test_chunked_in_memory_equals_unchunked(monkeypatch):
    whole = TraceRecorder()
    emit_mixed(whole, 25)
    expected = whole.frame()
    monkeypatch.setattr(recorder_module, "CHUNK_ROWS", 4)
    chunked = TraceRecorder()
    emit_mixed(chunked, 25)
    assert len(chunked) == 25
    frame = chunked.frame()
    assert frame.equals(expected)
    assert chunked.frame().equals(expected)


def test_spilled_chunks_land_in_the_spill_dir_and_read_back_equal(monkeypatch, tmp_path):
    whole = TraceRecorder()
    emit_mixed(whole, 25)
    expected = whole.frame()
    monkeypatch.setattr(recorder_module, "CHUNK_ROWS", 4)
    spilling = TraceRecorder(spill_dir=tmp_path)
    emit_mixed(spilling, 25)
    # Flushed at records 4, 8, ..., 24 while recording, before anyone asked for the frame.
    assert len(list(tmp_path.glob("*.parquet"))) == 6
    frame = spilling.frame()
    assert len(list(tmp_path.glob("*.parquet"))) == 7  # the last record's chunk
    assert frame.equals(expected)
    assert spilling.frame().equals(expected)
    assert len(list(tmp_path.glob("*.parquet"))) == 7  # nothing new to spill


@pytest.mark.parametrize("spilled", [True, False], ids=["spilled", "in-memory"])
def test_a_recorded_trace_scans_and_writes_what_its_frame_holds(monkeypatch, tmp_path, spilled):
    whole = TraceRecorder()
    emit_mixed(whole, 25)
    expected = whole.frame()
    monkeypatch.setattr(recorder_module, "CHUNK_ROWS", 4)
    spill_dir = tmp_path / "spill"
    spill_dir.mkdir()
    chunked = TraceRecorder(spill_dir=spill_dir if spilled else None)
    emit_mixed(chunked, 25)
    recorded = chunked.recorded()
    assert len(list(spill_dir.glob("*.parquet"))) == (7 if spilled else 0)
    assert recorded.height == 25
    assert recorded.scan().collect().equals(expected)
    recorded.write_parquet(tmp_path / "trace.parquet")
    assert pl.read_parquet(tmp_path / "trace.parquet").equals(expected)
    assert recorded.frame().equals(expected)


def test_a_recorded_trace_writes_the_same_bytes_for_the_same_records(monkeypatch, tmp_path):
    monkeypatch.setattr(recorder_module, "CHUNK_ROWS", 4)
    written = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        recorder = TraceRecorder(spill_dir=tmp_path / name)
        emit_mixed(recorder, 25)
        recorder.recorded().write_parquet(tmp_path / f"{name}.parquet")
        written.append((tmp_path / f"{name}.parquet").read_bytes())
    assert written[0] == written[1]


def test_a_recorded_trace_that_owns_its_spill_dir_removes_it_once_unused(monkeypatch, tmp_path):
    monkeypatch.setattr(recorder_module, "CHUNK_ROWS", 4)
    spill_dir = tmp_path / "spill"
    spill_dir.mkdir()
    recorder = TraceRecorder(spill_dir=spill_dir)
    emit_mixed(recorder, 25)
    recorded = recorder.recorded(owns_spill_dir=True)
    assert recorded.frame().height == 25
    assert spill_dir.exists()
    del recorded
    assert not spill_dir.exists()


def test_an_empty_recorded_trace_has_the_schema():
    recorded = TraceRecorder().recorded()
    assert recorded.height == 0
    assert recorded.scan().collect().schema == EXPECTED_SCHEMA


def test_a_frame_wrapped_as_a_recorded_trace_is_that_frame(tmp_path):
    recorder = TraceRecorder()
    emit_mixed(recorder, 9)
    frame = recorder.frame()
    recorded = RecordedTrace.of_frame(frame)
    assert recorded.height == 9
    assert recorded.frame() is frame
    assert recorded.scan().collect().equals(frame)


def test_emit_columns_records_the_same_rows_as_one_emit_each(monkeypatch):
    monkeypatch.setattr(recorder_module, "CHUNK_ROWS", 3)  # the columns cross chunk boundaries
    ids = [f"in_{index}" for index in range(5)]
    one_by_one, by_columns = TraceRecorder(), TraceRecorder()
    for recorder in (one_by_one, by_columns):
        recorder.emit(1.0, "run.start")
    for object_id, amount_minor in zip(ids, range(5)):
        one_by_one.emit(2.0, "oracle.invoice", object_id=object_id, amount_minor=amount_minor)
    by_columns.emit_columns(2.0, "oracle.invoice", object_id=ids, amount_minor=range(5))
    for recorder in (one_by_one, by_columns):
        recorder.emit(3.0, "oracle.invoice", object_id="in_9", amount_minor=9)
        recorder.emit(4.0, "run.end")
    assert len(by_columns) == 8
    assert by_columns.frame().equals(one_by_one.frame())


def test_emit_columns_with_no_rows_records_nothing():
    recorder = TraceRecorder()
    recorder.emit_columns(1.0, "oracle.invoice", object_id=[], amount_minor=[])
    recorder.emit_columns(1.0, "run.end")
    assert len(recorder) == 0
    assert recorder.frame().height == 0


def test_emit_columns_refuses_unknown_columns_and_columns_of_different_lengths():
    recorder = TraceRecorder()
    with pytest.raises(TypeError, match="'oracle.invoice': unknown columns \\['colour'\\]"):
        recorder.emit_columns(1.0, "oracle.invoice", object_id=["in_1"], colour=["red"])
    with pytest.raises(ValueError, match="'oracle.invoice': columns of different lengths"):
        recorder.emit_columns(1.0, "oracle.invoice", object_id=["in_1", "in_2"], amount_minor=[1])
    assert len(recorder) == 0
    assert recorder.frame().height == 0


def test_emit_names_every_column_after_t_s_and_kind_in_order_with_its_empty_value():
    parameters = list(inspect.signature(TraceRecorder.emit).parameters.values())
    keyword_only = [p for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert [p.name for p in parameters[1:3]] == ["t_s", "kind"]
    assert [(p.name, p.default) for p in keyword_only] == [(name, empty) for name, _, empty in COLUMNS[2:]]
    assert parameters[-1].kind is inspect.Parameter.VAR_KEYWORD  # only to name the kind in the error


def test_a_column_given_as_none_takes_its_empty_value(monkeypatch, tmp_path):
    monkeypatch.setattr(recorder_module, "CHUNK_ROWS", 2)
    recorder = TraceRecorder(tmp_path)
    recorder.emit(1.0, "erp.call", object_id=None, code="201", value=None)
    recorder.emit(2.0, "erp.call", object_id="in_1", amount_minor=None)
    recorder.emit(3.0, "run.end")
    assert recorder.frame().rows(named=True) == [
        {**EMPTY, "t_s": 1.0, "kind": "erp.call", "code": "201"},
        {**EMPTY, "t_s": 2.0, "kind": "erp.call", "object_id": "in_1"},
        {**EMPTY, "t_s": 3.0, "kind": "run.end"},
    ]


@pytest.mark.parametrize("spill", [False, True])
def test_has_finds_a_kind_pending_in_a_chunk_or_spilled(monkeypatch, tmp_path, spill):
    monkeypatch.setattr(recorder_module, "CHUNK_ROWS", 2)
    recorder = TraceRecorder(tmp_path if spill else None)
    recorder.emit(1.0, "engine.posted", object_id="in_1")
    assert recorder.has("engine.posted")  # pending
    recorder.emit(2.0, "run.end")  # the chunk is full: flushed
    assert recorder.has("engine.posted") and recorder.has("run.end")
    assert not recorder.has("engine.queued")
    assert len(recorder) == 2
