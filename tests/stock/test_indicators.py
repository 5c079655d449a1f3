"""Indicators against hand-computed values and against the `ta` package on the shared price files."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import ta

from apps.core.exceptions import ValidationFailed
from apps.stock import indicators as ind

NAN = np.nan


def same(a, b, **kw) -> None:
    np.testing.assert_allclose(np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64"), equal_nan=True, **kw)


def test_hand_computed_moving_averages() -> None:
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    same(ind.sma(x, 3), [NAN, NAN, 2, 3, 4])
    same(ind.ema(x, 3), [NAN, NAN, 2.25, 3.125, 4.0625])
    same(ind.wma([1.0, 2.0, 3.0, 4.0], 3), [NAN, NAN, 14 / 6, 20 / 6])


def test_sma_sums_are_correctly_rounded() -> None:
    # 11.46 is the exact mean of these closes; a naive float sum gives 11.459999999999999
    window = [11.31, 11.46, 11.62, 11.43, 11.48]
    assert ind.sma(window, 5)[-1] == math.fsum(window) / 5


def test_hand_computed_rsi_wilder() -> None:
    same(ind.rsi([1.0, 2.0, 3.0, 2.0, 3.0], 2), [NAN, NAN, 100, 50, 75])


def test_hand_computed_atr_obv_bands_stochastic_volatility() -> None:
    same(ind.atr([10.0, 12.0, 11.0], [8.0, 10.0, 9.0], [9.0, 11.0, 10.0], 2), [NAN, 2.5, 2.25])
    same(ind.obv([1.0, 2.0, 2.0, 1.0], [10.0, 20.0, 30.0, 40.0]), [0, 20, 20, -20])
    bands = ind.bollinger([1.0, 2.0, 3.0], 3, 2.0)
    same(bands["upper"], [NAN, NAN, 2 + 2 * math.sqrt(2 / 3)])
    same(bands["lower"], [NAN, NAN, 2 - 2 * math.sqrt(2 / 3)])
    stoch = ind.stochastic([3.0, 4.0, 5.0], [1.0, 2.0, 3.0], [2.0, 3.0, 4.0], 3, 1)
    same(stoch["k"], [NAN, NAN, 75])
    closes = np.exp([0.0, 0.01, 0.03, 0.02])
    vol = ind.rolling_volatility(closes, 3, periods_per_year=252)
    assert vol[-1] == pytest.approx(statistics.stdev([0.01, 0.02, -0.01]) * math.sqrt(252))
    same(ind.macd([1.0] * 40)["histogram"][-1:], [0.0])


def test_crossover_ignores_touches() -> None:
    a = [1.0, 2.0, 2.0, 3.0, 1.0, 2.0]
    b = [2.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    # 1<2, touch, touch, above -> cross up at index 3; below at 4; touch at 5 is no cross
    assert ind.crossover(a, b).tolist() == [0, 0, 0, 1, -1, 0]


def test_bad_period_is_rejected() -> None:
    with pytest.raises(ValidationFailed):
        ind.sma([1.0, 2.0], 0)
    with pytest.raises(ValidationFailed) as exc:
        ind.indicator_compute(None, "nope", {})
    assert exc.value.code == "unknown_indicator"


@pytest.fixture(scope="module")
def prices(orcl_frame):
    return orcl_frame


def test_against_ta_moving_averages(prices) -> None:
    close = prices["close"]
    same(ind.sma(close, 20), ta.trend.sma_indicator(close, 20), rtol=1e-12)
    same(ind.ema(close, 20), ta.trend.ema_indicator(close, 20), rtol=1e-12)
    same(ind.wma(close, 20)[19:], ta.trend.wma_indicator(close, 20)[19:], rtol=1e-10)


def test_against_ta_macd(prices) -> None:
    close = prices["close"]
    ours = ind.macd(close, 12, 26, 9)
    same(ours["macd"], ta.trend.macd(close, 26, 12), rtol=1e-10, atol=1e-12)
    same(ours["signal"], ta.trend.macd_signal(close, 26, 12, 9), rtol=1e-10, atol=1e-12)
    same(ours["histogram"], ta.trend.macd_diff(close, 26, 12, 9), rtol=1e-9, atol=1e-12)


def test_against_ta_rsi_after_warm_up(prices) -> None:
    # ta seeds Wilder's average with the first change only; the seeds' influence decays by (13/14)^k
    close = prices["close"]
    same(ind.rsi(close, 14)[300:], ta.momentum.rsi(close, 14)[300:], rtol=1e-7)


def test_against_ta_bollinger_atr_stochastic(prices) -> None:
    high, low, close = prices["high"], prices["low"], prices["close"]
    bands = ind.bollinger(close, 20, 2.0)
    same(bands["upper"], ta.volatility.bollinger_hband(close, 20, 2), rtol=1e-10)
    same(bands["middle"], ta.volatility.bollinger_mavg(close, 20), rtol=1e-12)
    same(bands["lower"], ta.volatility.bollinger_lband(close, 20, 2), rtol=1e-10)
    same(ind.atr(high, low, close, 14)[13:], ta.volatility.average_true_range(high, low, close, 14)[13:], rtol=1e-10)
    stoch = ind.stochastic(high, low, close, 14, 3)
    same(stoch["k"], ta.momentum.stoch(high, low, close, 14, 3), rtol=1e-10)
    same(stoch["d"], ta.momentum.stoch_signal(high, low, close, 14, 3), rtol=1e-10)


def test_against_ta_obv_changes(prices) -> None:
    # ta counts an unchanged close as up; the classic OBV leaves it unchanged. Compare the moves on changed closes.
    close, volume = prices["close"], prices["volume"]
    ours = np.diff(ind.obv(close, volume))
    theirs = np.diff(ta.volume.on_balance_volume(close, volume).to_numpy())
    moved = np.diff(close.to_numpy()) != 0
    same(ours[moved], theirs[moved])
