"""Models of the stock system: market data, research (strategies, backtests, sweeps) and paper trading."""

from .autotrade import AutoTradeOutcome, AutoTrader
from .market import Instrument, PriceBar, StockPermission
from .paper import Fill, Order, Portfolio, Position
from .research import BacktestRun, BacktestTrade, Strategy, Sweep

__all__ = [
    "AutoTradeOutcome",
    "AutoTrader",
    "BacktestRun",
    "BacktestTrade",
    "Fill",
    "Instrument",
    "Order",
    "Portfolio",
    "Position",
    "PriceBar",
    "StockPermission",
    "Strategy",
    "Sweep",
]
