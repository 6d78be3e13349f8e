"""Usage records and the cost report, to the last digit."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from lamina.billing.pricing import compute_cost, free_tier_credit, gb_seconds
from lamina.billing.report import cost_report, parse_since
from lamina.billing.usage import Meter, usage_row
from lamina.config import Prices, Settings
from lamina.store.db import Store
from lamina.store.usage import UsageTables
from tests.unit.observability.events import ENDED, invocation_event, throttle_event

DAY = int(ENDED // 86400)


@pytest.fixture
def tables(tmp_path: Path) -> Iterator[UsageTables]:
    store = Store(f"sqlite:///{tmp_path / 'lamina.db'}")
    store.migrate()
    yield UsageTables(store)
    store.close()


def test_usage_record_rounds_up_to_the_millisecond() -> None:
    row = usage_row(invocation_event(duration_ms=100.01, cold=True))
    assert row is not None
    assert (row["billed_ms"], row["memory_mb"], row["cold_start"], row["init_ms"], row["outcome"]) == (
        101, 128, True, 100.0, "success")
    assert usage_row(invocation_event(duration_ms=0.2, error=True))["billed_ms"] == 1  # type: ignore[index]
    assert usage_row(throttle_event()) is None


def test_price_arithmetic_is_exact() -> None:
    prices = Prices()
    assert gb_seconds(12_800_000_000) == Decimal(12_500)
    assert compute_cost(12_800_000_000, "x86_64", prices) == Decimal("0.20833375")
    assert compute_cost(2_054_144, "arm64", prices) == Decimal("0.0000267468004")
    credit = free_tier_credit(3_000_000, 12_800_000_000 * 40, 12_800_000_000, prices)
    # 400,000 GB-s free: all of them x86_64 (500,000 GB-s used), none left for arm64.
    assert credit == {"requests": Decimal(1_000_000), "gb_seconds": Decimal(400_000),
                      "credit": Decimal("0.2") + Decimal(400_000) * prices.gb_second_x86_64}


def test_report_of_a_known_workload(tables: UsageTables) -> None:
    meter = Meter(tables)
    meter.record([invocation_event(duration_ms=99.5) for _ in range(10)])           # 10 x 100 ms x 128 MB
    meter.record([invocation_event(duration_ms=d, memory=2048, architecture="arm64", name="arm")
                  for d in (0.4, 1.5, 999.9)])                                       # 1 + 2 + 1000 ms x 2048 MB
    meter.record([throttle_event()])
    assert meter.persist() == 13
    records = tables.records(function="arm")
    assert [r["billed_ms"] for r in records] == [1000, 2, 1] and records[0]["outcome"] == "success"
    assert records[0]["request_id"] == "req-1" and records[0]["init_ms"] is None and records[0]["memory_mb"] == 2048
    report = cost_report(tables.daily(DAY - 1, DAY), Prices(), DAY - 1, DAY)
    rows = {row["function"]: row for row in report["rows"]}
    assert rows["fn"]["requests"] == 10 and rows["fn"]["billedMs"] == 1000
    assert rows["fn"]["gbSeconds"] == "0.125" and rows["fn"]["computeCost"] == "0.0000020833375"
    assert rows["fn"]["requestCost"] == "0.000002" and rows["fn"]["cost"] == "0.0000040833375"
    assert rows["arm"]["gbSeconds"] == "2.006" and rows["arm"]["computeCost"] == "0.0000267468004"
    assert rows["arm"]["architecture"] == "arm64" and rows["arm"]["memoryMB"] == 2048
    total = Decimal("0.0000040833375") + Decimal("0.0000267468004") + Decimal("0.0000006")
    assert Decimal(report["total"]["cost"]) == total and report["total"]["requests"] == 13
    (month,) = report["freeTier"]
    assert Decimal(month["credit"]) == total and report["costAfterFreeTier"] == "0"
    priced = cost_report(tables.daily(DAY, DAY, function="fn"), Prices(requests_per_million=Decimal("1")), DAY, DAY)
    assert [r["function"] for r in priced["rows"]] == ["fn"] and priced["total"]["requestCost"] == "0.00001"


def test_since_parsing() -> None:
    assert parse_since("10m", 1000.0) == 400.0
    assert parse_since("2d", 200_000.0) == 200_000.0 - 172_800
    assert parse_since("2026-11-20", 0.0) == 1_795_132_800.0
    with pytest.raises(ValueError):
        parse_since("soon", 0.0)


def test_prices_are_configurable_by_environment() -> None:
    settings = Settings.from_environ({"LAMINA_PRICE_GB_SECOND_ARM64": "0.00001", "LAMINA_PRICE_FREE_REQUESTS": "0"})
    assert settings.prices.gb_second_arm64 == Decimal("0.00001") and settings.prices.free_requests == 0
    assert settings.prices.gb_second_x86_64 == Decimal("0.0000166667")
