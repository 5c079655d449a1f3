"""Load test of AI Stack's hot paths, one simulated user class per role.

Run through ``benchmarks/loadtest.sh`` (it starts gunicorn on loopback against a seeded database, creates one API key
per demo user and runs locust headless). By hand, against a running server::

    LOADTEST_KEYS=var/loadtest/keys.json locust -f benchmarks/locustfile.py --headless -u 40 -r 20 -t 60s \
        --host http://127.0.0.1:8123

``LOADTEST_KEYS`` is a JSON file ``{"admin": "ask_...", "manager": ..., "user": ..., "guest": ...}``. Detail pages
are requested for ids read from the first list page, so the endpoints report under stable names (``[id]``).
"""

from __future__ import annotations

import json
import os
import random
from functools import cache

from locust import FastHttpUser, between, task

PRODUCTS = "/api/v1/erp/products/"
SALES_ORDERS = "/api/v1/erp/sales-orders/"
ERP_DASHBOARD = "/api/v1/erp/reports/dashboard/"
RAG_SEARCH = "/api/v1/rag/search/"
BACKTESTS = "/api/v1/stock/backtests/"
CHAT_COMPLETIONS = "/v1/chat/completions"
CHAT_MODEL = "aistack-extractive"

# Every path a task requests (detail paths with their id placeholder), checked against the URL conf by
# tests/performance/test_locustfile.py.
PATHS = {
    "GET": [PRODUCTS, PRODUCTS + "1/", SALES_ORDERS, SALES_ORDERS + "1/", ERP_DASHBOARD, BACKTESTS, BACKTESTS + "1/"],
    "POST": [RAG_SEARCH, CHAT_COMPLETIONS],
}

QUERIES = [
    "boundary layer",
    "supersonic flow over a wedge",
    "heat transfer in laminar flow",
    "buckling of cylindrical shells",
    "shock wave interaction",
    "wing aerodynamic loads",
    "turbulent skin friction",
    "panel flutter",
]

QUESTIONS = [
    "What is known about boundary layer transition?",
    "How does heat transfer behave at hypersonic speeds?",
    "What causes panel flutter?",
]


@cache
def api_keys() -> dict[str, str]:
    path = os.environ.get("LOADTEST_KEYS", "var/loadtest/keys.json")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


class RoleUser(FastHttpUser):
    """A user of one role, authenticated with that role's API key; keeps a few ids to open detail pages."""

    abstract = True
    role = "user"
    wait_time = between(0.0, 0.05)

    def on_start(self) -> None:
        self.headers = {"X-API-Key": api_keys()[self.role], "Accept": "application/json"}
        self.ids: dict[str, list[int]] = {}
        self.pages: dict[str, int] = {}

    def get(self, path: str, name: str | None = None) -> None:
        with self.client.get(path, headers=self.headers, name=name or path, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")

    def post(self, path: str, body: dict, name: str | None = None) -> None:
        request = self.client.post(path, json=body, headers=self.headers, name=name or path, catch_response=True)
        with request as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")

    def list_and_remember(self, path: str) -> None:
        """A random page of the list (page 1 until the page count is known); remembers the ids it shows."""
        page = random.randint(1, self.pages.get(path, 1))
        url = f"{path}?page={page}" if page > 1 else path
        with self.client.get(url, headers=self.headers, name=path, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            body = response.json()
            rows = body.get("results", [])
            if rows and "count" in body:
                self.pages[path] = max(1, -(-body["count"] // len(rows))) if page == 1 else self.pages[path]
            ids = [row["id"] for row in rows if "id" in row]
            if ids:
                self.ids[path] = ids

    def detail(self, path: str) -> None:
        ids = self.ids.get(path)
        if not ids:
            self.list_and_remember(path)
            return
        self.get(f"{path}{random.choice(ids)}/", name=f"{path}[id]/")

    def rag_search(self, mode: str) -> None:
        self.post(RAG_SEARCH, {"query": random.choice(QUERIES), "mode": mode, "k": 10}, name=f"{RAG_SEARCH} ({mode})")


class GuestBrowser(RoleUser):
    """Guest: read-only browsing of the catalogue, the knowledge base and backtests."""

    role = "guest"
    weight = 3

    @task(5)
    def products(self) -> None:
        self.list_and_remember(PRODUCTS)

    @task(5)
    def product(self) -> None:
        self.detail(PRODUCTS)

    @task(3)
    def search(self) -> None:
        self.rag_search("lexical")

    @task(1)
    def backtests(self) -> None:
        self.list_and_remember(BACKTESTS)


class SalesClerk(RoleUser):
    """User: day-to-day ERP work (products and sales orders) and an occasional chat question."""

    role = "user"
    weight = 4

    @task(4)
    def products(self) -> None:
        self.list_and_remember(PRODUCTS)

    @task(4)
    def product(self) -> None:
        self.detail(PRODUCTS)

    @task(3)
    def orders(self) -> None:
        self.list_and_remember(SALES_ORDERS)

    @task(3)
    def order(self) -> None:
        self.detail(SALES_ORDERS)

    @task(1)
    def chat(self) -> None:
        body = {"model": CHAT_MODEL, "messages": [{"role": "user", "content": random.choice(QUESTIONS)}]}
        self.post(CHAT_COMPLETIONS, body)


class Researcher(RoleUser):
    """User: knowledge-base search (lexical and hybrid) and chat with the extractive model."""

    role = "user"
    weight = 2

    @task(4)
    def lexical(self) -> None:
        self.rag_search("lexical")

    @task(2)
    def hybrid(self) -> None:
        self.rag_search("hybrid")

    @task(1)
    def chat(self) -> None:
        body = {"model": CHAT_MODEL, "messages": [{"role": "user", "content": random.choice(QUESTIONS)}]}
        self.post(CHAT_COMPLETIONS, body)


class Manager(RoleUser):
    """Manager: order book, the ERP dashboard and backtest results."""

    role = "manager"
    weight = 1

    @task(3)
    def orders(self) -> None:
        self.list_and_remember(SALES_ORDERS)

    @task(1)
    def dashboard(self) -> None:
        self.get(ERP_DASHBOARD)

    @task(2)
    def backtests(self) -> None:
        self.list_and_remember(BACKTESTS)

    @task(2)
    def backtest(self) -> None:
        self.detail(BACKTESTS)
