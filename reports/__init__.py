"""reports: pure functions from a run's trace to its metrics, gates and ``report.html``.

The trace (columns of `rehearse.sync.trace.COLUMNS`, one polars frame) is the only input:

- `compute_metrics` -> one JSON-serialisable dict: reconciliation against the oracle, invariants,
  latency, resilience, rows per kind, and the scenario's gates (`evaluate_gates`, `GATES`);
- `write_report` -> a self-contained ``report.html`` with tables and two embedded plots;
- `backlog_series` -> sources waiting for the ERP over virtual time (what the backlog plot draws);
- `trace_frame` -> a trace built from a list of dicts, for tests and examples.

Modules: `frame` (schema, split by kind), `reconcile`, `invariants`, `latency`, `resilience`,
`gates`, `metrics`, `plots`, `html`.
"""

from rehearse.reports.frame import trace_frame
from rehearse.reports.gates import GATES, GateSpec, evaluate_gates, unknown_gates
from rehearse.reports.html import write_report
from rehearse.reports.latency import backlog_series
from rehearse.reports.metrics import compute_metrics

__all__ = [
    "GATES",
    "GateSpec",
    "backlog_series",
    "compute_metrics",
    "evaluate_gates",
    "trace_frame",
    "unknown_gates",
    "write_report",
]
