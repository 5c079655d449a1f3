"""Writes of the stock system, one module per area: bars, strategies, backtests, paper trading."""
