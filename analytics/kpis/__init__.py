"""Mining KPIs: pure formulas (formulas.py) over SQL aggregates of the history (selectors.py)."""
