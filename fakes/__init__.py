"""fakes: the simulated systems (crm, billing, payments, tax, erp), each a state machine with its
transitions as tables (`rehearse.fakes.machine`), time passed in, no I/O."""
