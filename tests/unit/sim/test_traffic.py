"""The traffic's renewal run: a renewal pushed while it waits idle is still made."""

import polars as pl

from rehearse.sim import runner, traffic
from rehearse.sim.scenario import load

# One book subscription and a new deal every few days, so that the renewal run has nothing due and
# waits; with seed 4 the second subscription (the first new deal, cus_2) arrives while it waits.
QUIET = ["traffic.subscriptions=1", "traffic.annual_share=0.5", "traffic.new_deals_per_day=0.3",
         "traffic.anchor_first_share=0", "run.traffic_days=45", "traffic.cancel_probability=0",
         "traffic.upgrade_probability=0", "traffic.downgrade_probability=0"]


def test_a_renewal_pushed_while_the_renewal_run_waits_wakes_it(monkeypatch):
    woken = []
    push = traffic.Traffic._push_renewal

    def recording(self, due_s, subscription_id):
        if self._idle:
            woken.append(subscription_id)
        return push(self, due_s, subscription_id)

    monkeypatch.setattr(traffic.Traffic, "_push_renewal", recording)
    scenario, _ = load("smoke", QUIET)
    trace = runner.simulate(scenario, 4).trace
    assert woken == ["sub_2"]  # the case under test happened
    invoices = trace.filter(pl.col("kind") == "billing.invoice_created", pl.col("ref_id") == "cus_2")
    assert invoices.height == 2  # the first invoice, and the renewal the idle run was woken for
