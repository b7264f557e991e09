"""contracts: the fakes' OpenAPI documents (``openapi/<system>.json``, generated from their apps and
checked in), Schemathesis runs against them (`check`) and consumer-side request validation
(`consumer`)."""
