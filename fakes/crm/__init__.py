"""fakes/crm."""
