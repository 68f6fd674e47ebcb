"""SmartMine benchmarks: `make bench` (or `make bench QUICK=1`). Never part of `make test`."""
