"""Trend analysis: Trend analyses and forecasts."""
