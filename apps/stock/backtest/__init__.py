"""The vectorised backtester: configuration, engine, performance metrics and the SVG chart."""
