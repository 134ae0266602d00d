"""Centralized exchanges: the pure order-book math (book) and the ccxt price feed (feed).

Nothing is imported here on purpose: `defibots.events` needs `cex.book`, and must not pull in ccxt.
"""
