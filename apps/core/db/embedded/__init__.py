"""Django database backend for the embedded PostgreSQL: the stock PostgreSQL backend (with Prometheus metrics)
that starts the embedded server on its first connection."""
