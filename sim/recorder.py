"""The trace recorder: collects trace records fast and turns them into one polars DataFrame.

A subscription emits about twenty records, so the cost of one call matters. `TraceRecorder.emit`
names every column of the trace as a keyword-only parameter with its empty value as the default,
so a call's keywords bind to parameters instead of filling a ``**fields`` dict (for twelve
keywords, the call alone takes 0.2 µs against 1 µs: `bench/micro.py`'s ``keyword_call_us``).
Each record goes into one flat list as a full row, in emission order (column j of the pending
records is ``rows[j::width]``, a slice taken in C); every `CHUNK_ROWS` records they become a polars
frame in the trace's column layout (`rehearse.sync.trace.COLUMNS`). Python objects therefore live
only for one chunk, and the finished trace is compact Arrow memory.

Emission order is deterministic under simulation, so the same seed gives the same frame.
"""

from __future__ import annotations

import shutil
import weakref
from collections.abc import Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

import polars as pl

from rehearse.sync.trace import COLUMN_NAMES, COLUMNS

CHUNK_ROWS = 50_000

_DTYPES = {"Float64": pl.Float64, "Int64": pl.Int64, "String": pl.String}
SCHEMA = {name: _DTYPES[dtype] for name, dtype, _ in COLUMNS}
_WIDTH = len(COLUMNS)  # values a record takes in the pending list
_FIELDS = COLUMN_NAMES[2:]  # what a caller names (t_s and kind come first, positionally)
_EMPTY = {name: empty for name, _, empty in COLUMNS}


class TraceRecorder:
    """Implements the engine's Trace port; `frame()` returns everything recorded so far."""

    def __init__(self, spill_dir: Path | None = None) -> None:
        self._spill_dir = spill_dir
        self._spilled: list[Path] = []
        self._rows: list[Any] = []  # pending records back to back, `_WIDTH` values each
        self._flush_at = CHUNK_ROWS * _WIDTH
        self._flushed = 0  # records already turned into chunks
        self._chunks: list[pl.DataFrame] = []

    # The parameters are the trace's columns after t_s and kind, in order, with their empty values
    # (`rehearse.sync.trace.COLUMNS`; a test holds the two together).
    def emit(self, t_s: float, kind: str, *, object_id: str = "", ref_id: str = "", parent_id: str = "",
             entity: str = "", currency: str = "", amount_minor: int = 0, tax_minor: int = 0,
             debit_minor: int = 0, credit_minor: int = 0, period: str = "", code: str = "", detail: str = "",
             value: float = 0.0, **unknown: Any) -> None:
        """Record one step at time `t_s`; the columns not named take their empty value."""
        if unknown:
            raise TypeError(f"trace kind {kind!r}: unknown columns {sorted(unknown)}")
        rows = self._rows
        rows.extend((t_s, kind, object_id, ref_id, parent_id, entity, currency, amount_minor, tax_minor,
                     debit_minor, credit_minor, period, code, detail, value))
        if len(rows) >= self._flush_at:
            self.flush()

    def emit_columns(self, t_s: float, kind: str, **columns: Sequence[Any]) -> None:
        """Record ``len(column)`` steps of one kind at time `t_s`, in order: the same records as
        that many `emit` calls with the columns' values, one row at a time, without a call each
        (the oracle traces a million invoices at the cut-off this way)."""
        unknown = set(columns) - set(_FIELDS)
        if unknown:
            raise TypeError(f"trace kind {kind!r}: unknown columns {sorted(unknown)}")
        count = len(next(iter(columns.values()))) if columns else 0
        if not count:
            return
        if any(len(values) != count for values in columns.values()):
            raise ValueError(f"trace kind {kind!r}: columns of different lengths")
        rows = self._rows
        start = len(rows)
        # Extended slice assignments interleave the columns into the flat list in C.
        rows.extend(repeat(None, _WIDTH * count))
        rows[start::_WIDTH] = repeat(t_s, count)
        rows[start + 1::_WIDTH] = repeat(kind, count)
        for offset, name in enumerate(_FIELDS, 2):
            values = columns.get(name)
            rows[start + offset::_WIDTH] = repeat(_EMPTY[name], count) if values is None else values
        if len(rows) >= self._flush_at:
            self.flush()

    def __len__(self) -> int:
        return self._flushed + len(self._rows) // _WIDTH

    def flush(self) -> None:
        """Turn the records collected so far into a chunk of the frame (spilled to disk when the
        recorder has a spill directory), so no Python object of theirs stays alive."""
        rows = self._rows
        if not rows:
            return
        self._rows = []
        self._flushed += len(rows) // _WIDTH
        # One Series per column is several times faster than polars' row-oriented constructor.
        chunk = pl.DataFrame([pl.Series(name, rows[index::_WIDTH], dtype=dtype)
                              for index, (name, dtype) in enumerate(SCHEMA.items())])
        del rows
        if chunk.null_count().sum_horizontal()[0]:  # a None passed for a column: its empty value
            chunk = chunk.with_columns(pl.col(name).fill_null(pl.lit(empty, dtype=SCHEMA[name]))
                                       for name, _, empty in COLUMNS)
        if self._spill_dir is None:
            self._chunks.append(chunk)
        else:
            # Spilled chunks keep a long run's trace out of memory while the world still needs it.
            path = self._spill_dir / f"trace-{len(self._spilled):05d}.parquet"
            chunk.write_parquet(path, compression="lz4", statistics=False)
            self._spilled.append(path)

    def has(self, kind: str) -> bool:
        """Whether a record of `kind` was emitted (the pending ones, then the chunks)."""
        if kind in self._rows[1::_WIDTH]:
            return True
        if any(kind in chunk["kind"] for chunk in self._chunks):
            return True
        return bool(self._spilled) and pl.scan_parquet(self._spilled).filter(pl.col("kind") == kind).head(1) \
            .collect().height > 0

    def frame(self) -> pl.DataFrame:
        """All records in emission order, with the trace's columns."""
        return self.recorded().frame()

    def recorded(self, owns_spill_dir: bool = False) -> RecordedTrace:
        """Everything recorded so far as a `RecordedTrace`; with `owns_spill_dir`, the spill
        directory is removed when that object is no longer used."""
        self.flush()
        return RecordedTrace(list(self._spilled), list(self._chunks), self._flushed,
                             self._spill_dir if owns_spill_dir else None)


class RecordedTrace:
    """A finished trace: Parquet chunks on disk and frames in memory, read lazily.

    At a million subscriptions the whole trace is twenty million rows, more than the simulation
    itself needs in memory; `scan` and `write_parquet` never hold it whole, `frame` does (and
    keeps it).

    Parameters
    ----------
    paths
        Spilled chunks, in emission order, with the trace's columns.
    frames
        Chunks kept in memory (after the spilled ones), with the trace's columns.
    rows
        Records in all chunks.
    owned_dir
        A directory to remove once this object is garbage (or the interpreter exits).
    """

    def __init__(self, paths: list[Path], frames: list[pl.DataFrame], rows: int,
                 owned_dir: Path | None = None) -> None:
        self._paths = paths
        self._frames = frames
        self.height = rows
        self._frame: pl.DataFrame | None = None
        if owned_dir is not None:
            weakref.finalize(self, shutil.rmtree, owned_dir, ignore_errors=True)

    @classmethod
    def of_frame(cls, frame: pl.DataFrame) -> RecordedTrace:
        """A trace that is already one frame (with the trace's columns)."""
        recorded = cls([], [], frame.height)
        recorded._frame = frame
        return recorded

    def scan(self) -> pl.LazyFrame:
        """All records in emission order, with the trace's columns, as a lazy frame. It reads the
        spilled chunks, so collect it while this object is alive (their directory goes with it)."""
        if self._frame is not None and not (self._paths or self._frames):
            return self._frame.lazy()
        parts = ([pl.scan_parquet(self._paths)] if self._paths else []) + [chunk.lazy() for chunk in self._frames]
        if not parts:
            return pl.LazyFrame(schema=SCHEMA)
        return pl.concat(parts, how="vertical")

    def frame(self) -> pl.DataFrame:
        """All records in emission order, with the trace's columns, loaded whole (once)."""
        if self._frame is None:
            chunks = [pl.read_parquet(path) for path in self._paths] + self._frames
            # No rechunk: a copy of the whole trace would double the peak memory of a long run.
            self._frame = pl.concat(chunks, rechunk=False) if chunks else pl.DataFrame(schema=SCHEMA)
        return self._frame

    def write_parquet(self, path: Path) -> None:
        """Write the trace to one Parquet file (zstd), streaming the chunks through."""
        self.scan().sink_parquet(path, compression="zstd", statistics=False)
