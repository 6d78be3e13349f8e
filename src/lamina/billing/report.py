"""The cost report: per function, version and day (UTC), at the configured prices, with the monthly
free tier shown separately. Money is ``Decimal`` throughout and leaves as strings, so a report can be
checked to the last digit.
"""

from __future__ import annotations

import calendar
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any

from lamina.billing.pricing import compute_cost, free_tier_credit, gb_seconds, request_cost
from lamina.config import Prices


def _day(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86400))


def _money(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def cost_report(rows: list[dict[str, Any]], prices: Prices, since_day: int, until_day: int) -> dict[str, Any]:
    """``rows`` are :meth:`lamina.store.observability.UsageTables.daily` groups."""
    lines = []
    per_function: dict[tuple[str, str], dict[str, Any]] = {}
    months: dict[str, dict[str, int]] = defaultdict(lambda: {"requests": 0, "x86_64": 0, "arm64": 0})
    total_requests = 0
    total_mb_ms = 0
    total_request_cost = Decimal(0)
    total_compute_cost = Decimal(0)
    for row in rows:
        requests, mb_ms = int(row["requests"]), int(row["mb_ms"] or 0)
        architecture = "arm64" if row["architecture"] == "arm64" else "x86_64"
        req_cost = request_cost(requests, prices)
        cpu_cost = compute_cost(mb_ms, architecture, prices)
        lines.append({
            "date": _day(row["day"]), "region": row["region"], "function": row["function"],
            "version": row["version"], "architecture": architecture, "requests": requests,
            "billedMs": int(row["billed_ms"] or 0), "gbSeconds": _money(gb_seconds(mb_ms)),
            "requestCost": _money(req_cost), "computeCost": _money(cpu_cost), "cost": _money(req_cost + cpu_cost),
            "coldStarts": int(row["cold_starts"] or 0), "errors": int(row["errors"] or 0),
            "memoryMB": int(row["memory_mb"] or 0), "peakMemoryMB": int(row["peak_memory_mb"] or 0),
            "avgDurationMs": round(float(row["duration_ms"] or 0.0) / requests, 3) if requests else 0.0,
        })
        summary = per_function.setdefault((row["region"], row["function"]), {
            "region": row["region"], "function": row["function"], "requests": 0, "mb_ms": 0, "cost": Decimal(0)})
        summary["requests"] += requests
        summary["mb_ms"] += mb_ms
        summary["cost"] += req_cost + cpu_cost
        usage = months[_day(row["day"])[:7]]
        usage["requests"] += requests
        usage[architecture] += mb_ms
        total_requests += requests
        total_mb_ms += mb_ms
        total_request_cost += req_cost
        total_compute_cost += cpu_cost
    free = []
    total_credit = Decimal(0)
    for month, usage in sorted(months.items()):
        credit = free_tier_credit(usage["requests"], usage["x86_64"], usage["arm64"], prices)
        total_credit += credit["credit"]
        free.append({"month": month, "requests": usage["requests"],
                     "gbSeconds": _money(gb_seconds(usage["x86_64"] + usage["arm64"])),
                     "freeRequests": _money(credit["requests"]), "freeGbSeconds": _money(credit["gb_seconds"]),
                     "credit": _money(credit["credit"])})
    total = total_request_cost + total_compute_cost
    return {
        "currency": "USD", "since": _day(since_day), "until": _day(until_day),
        "prices": {"requestsPerMillion": _money(prices.requests_per_million),
                   "gbSecondX86_64": _money(prices.gb_second_x86_64), "gbSecondArm64": _money(prices.gb_second_arm64),
                   "freeRequests": prices.free_requests, "freeGbSeconds": prices.free_gb_seconds},
        "rows": lines,
        "functions": [{"region": s["region"], "function": s["function"], "requests": s["requests"],
                       "gbSeconds": _money(gb_seconds(s["mb_ms"])), "cost": _money(s["cost"])}
                      for s in per_function.values()],
        "total": {"requests": total_requests, "gbSeconds": _money(gb_seconds(total_mb_ms)),
                  "requestCost": _money(total_request_cost), "computeCost": _money(total_compute_cost),
                  "cost": _money(total)},
        # The free tier is monthly and account-wide; here it is worked out on the usage in the window.
        "freeTier": free,
        "costAfterFreeTier": _money(max(Decimal(0), total - total_credit)),
    }


_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: float) -> float:
    """``10m``, ``24h``, ``7d``, ``2w`` before ``now``, or a date ``2026-11-20`` (UTC); epoch seconds.

    Raises ValueError for anything else.
    """
    text = text.strip()
    if text and text[-1] in _UNITS_S and text[:-1].isdigit():
        return now - int(text[:-1]) * _UNITS_S[text[-1]]
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%d")))
