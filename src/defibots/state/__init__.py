"""The market state strategies read: one store, one part per protocol (see store.py)."""
