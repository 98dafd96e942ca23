"""Package 2."""
