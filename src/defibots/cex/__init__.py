"""Centralized exchanges: the pure order-book math (book) and the ccxt price feed (feed).

Nothing is imported here on purpose: `cex.events` needs `cex.book`, and must not pull in ccxt.
"""
