"""Centralized exchanges: the pure order-book math (book), the ccxt price feed (feed), the normalized
multi-venue top of book (top_of_book), the order executor (orders) with its outbound-order cache
(order_cache), and API credentials and exception scrubbing (secrets).

Nothing is imported here on purpose: `cex.events` needs `cex.book`, and must not pull in ccxt.
"""
