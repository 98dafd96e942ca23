"""Package 3."""
