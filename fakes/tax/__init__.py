"""fakes/tax."""
