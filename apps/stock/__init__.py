"""Stock trading: Market data, indicators, backtesting and paper trading."""
