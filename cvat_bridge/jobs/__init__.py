"""Background jobs: rows in SQL hold their state; an embedded process pool or RQ workers run them."""
