"""Graph's state and rules as plain Python: no web framework is imported under this package."""
