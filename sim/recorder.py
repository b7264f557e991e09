"""The trace recorder: collects trace records fast and turns them into one polars DataFrame.

Each call site emits the same keywords every time, so records are grouped by (kind, field names)
and kept one after another in one flat list per group (a group of width w has its column j at
``rows[j::w]``, a slice taken in C; transposing tuples with ``zip(*rows)`` cost as much again as
building the columns); every `CHUNK_ROWS` records the groups are turned into a polars frame in the
trace's column layout (`rehearse.sync.trace.COLUMNS`). Python objects therefore live only for one
chunk, and the finished trace is compact Arrow memory.

Row order: records keep their emission order (a sequence number is a hidden column until the end),
and emission order is deterministic under simulation, so the same seed gives the same frame.
"""

from __future__ import annotations

import shutil
import weakref
from pathlib import Path
from collections.abc import Sequence
from itertools import repeat
from typing import Any

import polars as pl

from rehearse.sync.trace import COLUMNS

CHUNK_ROWS = 50_000

_DTYPES = {"Float64": pl.Float64, "Int64": pl.Int64, "String": pl.String}
SCHEMA = {name: _DTYPES[dtype] for name, dtype, _ in COLUMNS}
_KNOWN = set(SCHEMA)


class TraceRecorder:
    """Implements the engine's Trace port; `frame()` returns everything recorded so far."""

    def __init__(self, spill_dir: Path | None = None) -> None:
        self._spill_dir = spill_dir
        self._spilled: list[Path] = []
        # (kind, field names) -> the group's records back to back: seq, t_s, then the fields' values
        self._groups: dict[tuple[str, tuple[str, ...]], list[Any]] = {}
        self._sequence = 0
        self._flush_at = CHUNK_ROWS
        self._chunks: list[pl.DataFrame] = []

    def emit(self, t_s: float, kind: str, **fields: Any) -> None:
        """Record one step at time `t_s`."""
        key = (kind, tuple(fields))
        rows = self._groups.get(key)
        if rows is None:
            rows = self._group(key)
        self._sequence = sequence = self._sequence + 1
        rows.extend((sequence, t_s, *fields.values()))
        if sequence >= self._flush_at:
            self.flush()

    def emit_columns(self, t_s: float, kind: str, **columns: Sequence[Any]) -> None:
        """Record ``len(column)`` steps of one kind at time `t_s`, in order: the same records as
        that many `emit` calls with the columns' values, one row at a time, without a call each
        (the oracle traces a million invoices at the cut-off this way)."""
        key = (kind, tuple(columns))
        rows = self._group(key)
        count = len(next(iter(columns.values()))) if columns else 0
        if not count:
            return
        if any(len(values) != count for values in columns.values()):
            raise ValueError(f"trace kind {kind!r}: columns of different lengths")
        width = 2 + len(columns)
        start = len(rows)
        sequence = self._sequence
        # Extended slice assignments interleave the columns into the group's flat list in C.
        rows.extend(repeat(None, width * count))
        rows[start::width] = range(sequence + 1, sequence + count + 1)
        rows[start + 1::width] = [t_s] * count
        for offset, values in enumerate(columns.values(), 2):
            rows[start + offset::width] = values
        self._sequence = sequence + count
        if self._sequence >= self._flush_at:
            self.flush()

    def _group(self, key: tuple[str, tuple[str, ...]]) -> list[Any]:
        rows = self._groups.get(key)
        if rows is None:
            unknown = set(key[1]) - _KNOWN
            if unknown:
                raise TypeError(f"trace kind {key[0]!r}: unknown columns {sorted(unknown)}")
            rows = self._groups[key] = []
        return rows

    def __len__(self) -> int:
        return self._sequence

    def flush(self) -> None:
        """Turn the records collected so far into a chunk of the frame (spilled to disk when the
        recorder has a spill directory), so no Python object of theirs stays alive."""
        self._flush_at = self._sequence + CHUNK_ROWS
        if not any(self._groups.values()):
            return
        parts = []
        for (kind, names), rows in self._groups.items():
            if not rows:
                continue
            schema = {"seq": pl.Int64, "t_s": pl.Float64, **{name: SCHEMA[name] for name in names}}
            width = len(schema)
            # One Series per column is several times faster than polars' row-oriented constructor.
            series = [pl.Series(name, rows[index::width], dtype=dtype)
                      for index, (name, dtype) in enumerate(schema.items())]
            series.append(pl.Series("kind", [kind], dtype=pl.String).new_from_index(0, len(rows) // width))
            parts.append(pl.DataFrame(series))
        self._groups = {key: [] for key in self._groups}
        # One pass for all groups: a column a group did not emit is null after the diagonal
        # concatenation and takes its empty value here.
        merged = pl.concat(parts, how="diagonal")
        chunk = merged.lazy().select(
            "seq",
            *(pl.col(name).fill_null(pl.lit(empty, dtype=SCHEMA[name])) if name in merged.columns
              else pl.lit(empty, dtype=SCHEMA[name]).alias(name)
              for name, _, empty in COLUMNS),
        ).sort("seq").collect()
        if self._spill_dir is None:
            self._chunks.append(chunk)
        else:
            # Spilled chunks keep a long run's trace out of memory while the world still needs it.
            path = self._spill_dir / f"trace-{len(self._spilled):05d}.parquet"
            chunk.write_parquet(path, compression="lz4", statistics=False)
            self._spilled.append(path)

    def frame(self) -> pl.DataFrame:
        """All records in emission order, with the trace's columns."""
        return self.recorded().frame()

    def recorded(self, owns_spill_dir: bool = False) -> RecordedTrace:
        """Everything recorded so far as a `RecordedTrace`; with `owns_spill_dir`, the spill
        directory is removed when that object is no longer used."""
        self.flush()
        return RecordedTrace(list(self._spilled), list(self._chunks), self._sequence,
                             self._spill_dir if owns_spill_dir else None)


class RecordedTrace:
    """A finished trace: Parquet chunks on disk and frames in memory, read lazily.

    At a million subscriptions the whole trace is twenty million rows, more than the simulation
    itself needs in memory; `scan` and `write_parquet` never hold it whole, `frame` does (and
    keeps it).

    Parameters
    ----------
    paths
        Spilled chunks, in emission order, each with a leading ``seq`` column.
    frames
        Chunks kept in memory (after the spilled ones), each with a leading ``seq`` column.
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
        return pl.concat(parts, how="vertical").drop("seq")

    def frame(self) -> pl.DataFrame:
        """All records in emission order, with the trace's columns, loaded whole (once)."""
        if self._frame is None:
            chunks = [pl.read_parquet(path) for path in self._paths] + self._frames
            # No rechunk: a copy of the whole trace would double the peak memory of a long run.
            self._frame = (pl.concat(chunks, rechunk=False).drop("seq") if chunks
                           else pl.DataFrame(schema=SCHEMA))
        return self._frame

    def write_parquet(self, path: Path) -> None:
        """Write the trace to one Parquet file (zstd), streaming the chunks through."""
        self.scan().sink_parquet(path, compression="zstd", statistics=False)
