"""A hand-written SVG chart: equity on top, drawdown below (no plotting library)."""

from __future__ import annotations

from html import escape

import numpy as np

from .performance import drawdown

WIDTH, HEIGHT, PAD = 720, 360, 44


def _points(xs: np.ndarray, ys: np.ndarray, top: float, height: float, lo: float, hi: float) -> str:
    span = hi - lo or 1.0
    px = PAD + xs * (WIDTH - 2 * PAD)
    py = top + (1.0 - (ys - lo) / span) * height
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(px, py, strict=True))


def _downsample(n: int, limit: int = 800) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, limit)).round().astype(int)) if n else np.arange(0)


def equity_chart_svg(dates: list[str], equity: list[float], *, title: str = "") -> str:
    """SVG with the equity line (upper 65 %) and the drawdown area (lower 35 %)."""
    values = np.asarray(equity, dtype="float64")
    if len(values) == 0:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}"></svg>'
    idx = _downsample(len(values))
    xs = idx / max(len(values) - 1, 1)
    eq, dd = values[idx], drawdown(values)[idx]
    top_h, bottom_top = (HEIGHT - 3 * PAD) * 0.65, PAD * 2 + (HEIGHT - 3 * PAD) * 0.65
    bottom_h = (HEIGHT - 3 * PAD) * 0.35
    lo, hi = float(eq.min()), float(eq.max())
    dd_lo = min(float(dd.min()), -1e-9)
    equity_line = _points(xs, eq, PAD, top_h, lo, hi)
    dd_line = _points(xs, dd, bottom_top, bottom_h, dd_lo, 0.0)
    dd_area = f"{PAD:.1f},{bottom_top:.1f} {dd_line} {WIDTH - PAD:.1f},{bottom_top:.1f}"
    first, last = escape(dates[0]), escape(dates[-1])
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'font-family="sans-serif" font-size="11">'
        f'<rect width="100%" height="100%" fill="#fff"/>'
        f'<text x="{PAD}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>'
        f'<text x="{PAD}" y="{PAD - 6}">equity {lo:,.0f} to {hi:,.0f}</text>'
        f'<polyline fill="none" stroke="#2563eb" stroke-width="1.5" points="{equity_line}"/>'
        f'<text x="{PAD}" y="{bottom_top - 6}">drawdown (max {dd_lo:.1%})</text>'
        f'<polygon fill="#fca5a5" stroke="#dc2626" stroke-width="1" points="{dd_area}"/>'
        f'<text x="{PAD}" y="{HEIGHT - 8}">{first}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" text-anchor="end">{last}</text>'
        "</svg>"
    )


def price_chart_svg(
    dates: list[str], closes: list[float], *, title: str = "", width: int = 480, height: int = 160
) -> str:
    """A small close-price line chart (instrument pages in the admin)."""
    values = np.asarray(closes, dtype="float64")
    if len(values) == 0:
        return ""
    idx = _downsample(len(values), 400)
    xs, ys = idx / max(len(values) - 1, 1), values[idx]
    lo, hi = float(ys.min()), float(ys.max())
    span = hi - lo or 1.0
    pts = " ".join(
        f"{8 + x * (width - 16):.1f},{20 + (1 - (y - lo) / span) * (height - 40):.1f}"
        for x, y in zip(xs, ys, strict=True)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        f'font-size="10"><rect width="100%" height="100%" fill="#fff" stroke="#e5e7eb"/>'
        f'<text x="8" y="13">{escape(title)} {lo:,.2f} to {hi:,.2f}</text>'
        f'<polyline fill="none" stroke="#16a34a" stroke-width="1.2" points="{pts}"/>'
        f'<text x="8" y="{height - 5}">{escape(dates[0])}</text>'
        f'<text x="{width - 8}" y="{height - 5}" text-anchor="end">{escape(dates[-1])}</text></svg>'
    )
