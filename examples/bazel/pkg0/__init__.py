"""Package 0."""
