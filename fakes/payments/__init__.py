"""fakes/payments."""
