"""Strategies: pure decisions from events and model state to actions."""
