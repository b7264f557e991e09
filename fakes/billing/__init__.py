"""fakes/billing."""
