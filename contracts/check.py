"""Provider contract checks: Schemathesis against a fake, in process (its ASGI app) or at a URL.

Every Schemathesis check runs (status codes, content types, response schemas and headers, positive
data accepted, negative data rejected, unsupported methods, use-after-free, resource availability,
...) through every phase (examples, coverage, fuzzing, and stateful sequences that follow the
documents' OpenAPI links). One tuning, said out loud: `positive_data_acceptance` also accepts 400,
because the modelled systems answer schema-valid but business-invalid input with a 400 of their own
(NetSuite's INVALID_KEY_OR_REF for a parent that does not exist, Stripe's resource_missing), which
no schema can express.
"""

from __future__ import annotations

from typing import Any, NamedTuple

POSITIVE_STATUSES = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]


class ContractFailure(NamedTuple):
    """One failed check: which operation, which check, and what Schemathesis said."""

    operation: str
    check: str
    message: str


class ContractResult(NamedTuple):
    """The outcome of checking one system's document."""

    system: str
    operations: int
    cases: int
    failures: list[ContractFailure]
    errors: list[str]

    @property
    def passed(self) -> bool:
        """No failed check and no engine error."""
        return not self.failures and not self.errors


def _config(max_examples: int, seed: int):
    from schemathesis.config import SchemathesisConfig

    return SchemathesisConfig.from_dict({
        "seed": seed,
        "generation": {"max-examples": max_examples, "mode": "all", "database": "none"},
        "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_STATUSES}},
        "phases": {"stateful": {"max-steps": max(10, max_examples)}},
    })


def check_app(system: str, app: Any, *, max_examples: int = 25, seed: int = 1) -> ContractResult:
    """Run every check against `app` (an ASGI app serving ``/openapi.json``) in process."""
    import schemathesis

    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config(max_examples, seed))
    return _run(system, schema)


def check_url(system: str, base_url: str, document: dict, *, max_examples: int = 25, seed: int = 1) -> ContractResult:
    """Run every check against a live server at `base_url`, described by `document`."""
    import schemathesis

    schema = schemathesis.openapi.from_dict(document, config=_config(max_examples, seed))
    schema.config.update(base_url=base_url.rstrip("/"))
    return _run(system, schema)


def _run(system: str, schema) -> ContractResult:
    from schemathesis.engine import events, from_schema

    failures: dict[tuple[str, str, str], ContractFailure] = {}
    errors: list[str] = []
    cases = 0
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            cases += len(recorder.cases)
            for checks in recorder.checks.values():
                for node in checks:
                    if node.failure_info is not None:
                        failure = node.failure_info.failure
                        key = (recorder.label, node.name, failure.title)
                        failures.setdefault(key, ContractFailure(recorder.label, node.name,
                                                                 f"{failure.title}: {failure.message}"))
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            errors.append(f"fatal: {event.exception!r}")
    return ContractResult(system, len(list(schema.get_all_operations())), cases,
                          sorted(failures.values()), errors)

