"""Job wiring: what the CLI commands start, above strategies and executors (see runner.py)."""
