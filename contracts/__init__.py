"""contracts: the contracts of the fakes and of the events, and the tools that check them.

- ``openapi/<system>.json``: the fakes' OpenAPI documents, generated from their apps and checked in
  (`documents`; `rehearse contracts export`), Schemathesis runs against them (`check`;
  `rehearse contracts check`) and consumer-side request validation (`consumer`);
- `diff`: breaking changes between two versions of an OpenAPI document (`rehearse contracts diff`);
- `event_schemas`: JSON Schemas of the webhook events, generated from `rehearse.sync.model` and
  checked in under ``events/`` (`rehearse contracts schemas`);
- `rehearsal`: rehearsals from Python (a run's outcome; a world stepped through virtual time);
- `pytest_plugin`: the same as pytest fixtures, registered through the ``pytest11`` entry point.
"""
