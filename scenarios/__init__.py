"""Built-in scenario files (data only)."""
