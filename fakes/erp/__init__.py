"""fakes/erp."""
