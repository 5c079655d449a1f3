"""
title: AI Stack
description: AI Stack knowledge search, ERP look-ups and stock quotes, with your AI Stack permissions.
requirements: httpx, pydantic
version: 1.0.0
license: proprietary

An Open WebUI *Tools* file: paste it under Workspace -> Tools, then set the valves (AI Stack URL and an AI Stack API
key, created in the admin under Security -> API keys or with POST /api/v1/core/api-keys/). Every call runs with the
key owner's permissions through AI Stack's REST API (``POST /api/v1/chat/tools/<tool>/run/``).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import BaseModel, Field


class Tools:
    class Valves(BaseModel):
        aistack_url: str = Field(default="http://localhost:8000", description="Base URL of AI Stack")
        aistack_api_key: str = Field(default="", description="An AI Stack API key (ask_...)")
        timeout_seconds: float = Field(default=30.0, description="Seconds per request")

    def __init__(self) -> None:
        self.valves = self.Valves()

    def _run(self, tool: str, arguments: dict[str, Any]) -> Any:
        url = f"{self.valves.aistack_url.rstrip('/')}/api/v1/chat/tools/{tool}/run/"
        try:
            response = httpx.post(
                url,
                json={"arguments": arguments},
                headers={"Authorization": f"Bearer {self.valves.aistack_api_key}"},
                timeout=self.valves.timeout_seconds,
            )
        except httpx.HTTPError as exc:
            return {"error": f"AI Stack is unreachable at {self.valves.aistack_url}: {exc.__class__.__name__}"}
        try:
            body = response.json()
        except ValueError:
            return {"error": f"AI Stack answered {response.status_code} without JSON."}
        if response.status_code >= 400:
            return {"error": (body.get("error") or {}).get("message", f"HTTP {response.status_code}")}
        return body.get("result")

    def search_knowledge(self, query: str, k: int = 5) -> str:
        """
        Search the company knowledge bases for passages about a question.
        :param query: What to look for.
        :param k: How many passages to return (1-20).
        :return: The best passages with their document titles, as JSON.
        """
        return json.dumps(self._run("search_knowledge", {"query": query, "k": k}), ensure_ascii=False)

    def stock_quote(self, symbol: str, exchange: str = "") -> str:
        """
        Get the latest daily close of a stock and its change against the previous close.
        :param symbol: The ticker, e.g. AAPL.
        :param exchange: The exchange code (optional), e.g. XNAS.
        :return: The quote as JSON.
        """
        arguments = {"symbol": symbol, **({"exchange": exchange} if exchange else {})}
        return json.dumps(self._run("stock_quote", arguments), ensure_ascii=False)

    def erp_lookup(self, kind: str, code: str) -> str:
        """
        Look up ERP data (read-only): a sales order by number, a customer by code, a product or its stock by SKU.
        :param kind: One of order, customer, product, stock.
        :param code: The order number, customer code or product SKU.
        :return: The record as JSON.
        """
        return json.dumps(self._run("erp_lookup", {"kind": kind, "code": code}), ensure_ascii=False)
