"""Analytics app."""
