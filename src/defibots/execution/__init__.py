"""Executors: simulate, sign, send and track transactions and bundles (the I/O end of the pipeline)."""
