"""sync: the sync engine under test. The canonical model, posting rules and decisions are plain
functions over frozen data; the orchestrated pattern's workflows reach time, randomness, the ERP,
billing, the Store and the trace only through the ports in `rehearse.sync.ports`."""
