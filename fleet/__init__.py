"""Fleet app."""
