"""rehearse: a dress rehearsal for quote-to-cash integrations.

The code lives in subpackages mapped from the repository's top-level folders:
`rehearse.sync` (the engine), `rehearse.fakes` (simulated systems), `rehearse.sim` (the world and
the command line), `rehearse.reports` (trace -> metrics -> report), `rehearse.contracts`.
"""

__version__ = "0.1.0"
