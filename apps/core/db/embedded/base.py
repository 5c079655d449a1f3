from typing import Any

from django_prometheus.db.backends.postgresql.base import DatabaseWrapper as PrometheusPostgresWrapper

from apps.core import embedded_pg


class DatabaseWrapper(PrometheusPostgresWrapper):  # type: ignore[misc]
    def get_connection_params(self) -> dict[str, Any]:
        pgdata = self.settings_dict["EMBEDDED_PGDATA"]
        self.settings_dict["HOST"] = embedded_pg.ensure_running(pgdata)
        params = super().get_connection_params()
        params["host"] = self.settings_dict["HOST"]
        # The configured database is created on first use; test databases are created by the test runner.
        if params.get("dbname") and params["dbname"] == self.settings_dict.get("EMBEDDED_AUTOCREATE"):
            embedded_pg.ensure_database(pgdata, params["dbname"], params.get("user") or "postgres")
        return dict(params)
