"""contracts: OpenAPI documents of the fakes, JSON Schemas of the canonical events and the checks
that run them. Empty until live mode and contract tests arrive (issue 5)."""
