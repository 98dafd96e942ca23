"""Package 1."""
