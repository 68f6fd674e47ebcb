"""What-if scenarios: the pure engine (engine.py), the run in a worker (runner.py, tasks.py), the API."""
