"""sim: the world of a run (runtimes, traffic, faults, webhook delivery, the oracle), the runner and
the `rehearse` command line."""
