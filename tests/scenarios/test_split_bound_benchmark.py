"""bench/split_bound.py end to end at a small N: the whole peak, its source side and its sink side,
and its bad arguments. (The benchmark's figures come from running it; nothing here times anything.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SPLIT_BOUND = Path(__file__).resolve().parents[2] / "bench" / "split_bound.py"


def _split_bound(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SPLIT_BOUND), *args], capture_output=True, text=True, timeout=240)


def test_the_sink_replays_the_whole_runs_deliveries_into_the_same_erp_documents() -> None:
    done = _split_bound("--subscriptions", "300", "--repeat", "2")
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    result = json.loads(line)
    for side in ("whole", "source", "sink"):
        assert len(result[f"{side}_s_all"]) == 2
        assert result[f"{side}_s"] == min(result[f"{side}_s_all"]) > 0
    # 300 invoices, the payments that succeeded: the replayed sink posts exactly what the whole run did.
    assert result["sink_erp_documents"] == result["erp_documents"] > 300
    assert result["deliveries"] >= 4 * 300  # four webhooks a renewal, some duplicated
    steps = [line.split("] ", 1)[1] for line in done.stderr.splitlines() if line.startswith("[")]
    assert steps == [f"run {run} of 2: {side}" for run in (1, 2) for side in ("whole", "source", "sink")] + \
        ["pickling the deliveries"]
    slower_side_s = max(result["source_s"] + result["pickle_s"], result["sink_s"] + result["unpickle_s"])
    # The seconds are printed to the millisecond, so at this size the quotient is good to a few percent.
    assert result["bound"] == pytest.approx(result["whole_s"] / slower_side_s, rel=0.05)


@pytest.mark.parametrize("args", [["--subscriptions", "0"], ["--subscriptions", "many"], ["--repeat", "0"]])
def test_bad_arguments_exit_2_naming_the_option(args: list[str]) -> None:
    done = _split_bound(*args)
    assert done.returncode == 2
    assert args[0] in done.stderr and done.stdout == ""
