"""AWS Lambda's price arithmetic, exact (``Decimal``), for requests and duration.

Duration is billed per GB-second of configured memory, rounded up to the millisecond
(https://aws.amazon.com/lambda/pricing/): GB-seconds = billed ms x memory MB / 1,024,000. The monthly
free tier (1 M requests, 400,000 GB-s) is shared by every function and both architectures; Lamina
spends the GB-seconds allowance on x86_64 first, then arm64 (the order that saves the most).
"""

from __future__ import annotations

from decimal import Decimal

from lamina.config import Prices

MB_MS_PER_GB_SECOND = Decimal(1_024_000)
MILLION = Decimal(1_000_000)


def gb_seconds(mb_ms: int) -> Decimal:
    """GB-seconds of ``mb_ms`` (billed milliseconds x configured MB)."""
    return Decimal(mb_ms) / MB_MS_PER_GB_SECOND


def request_cost(requests: int, prices: Prices) -> Decimal:
    return Decimal(requests) * prices.requests_per_million / MILLION


def gb_second_price(architecture: str, prices: Prices) -> Decimal:
    return prices.gb_second_arm64 if architecture == "arm64" else prices.gb_second_x86_64


def compute_cost(mb_ms: int, architecture: str, prices: Prices) -> Decimal:
    return gb_seconds(mb_ms) * gb_second_price(architecture, prices)


def free_tier_credit(requests: int, x86_mb_ms: int, arm_mb_ms: int, prices: Prices) -> dict[str, Decimal]:
    """What one month's free tier takes off: requests, GB-seconds (x86 first) and their worth."""
    free_requests = min(Decimal(requests), Decimal(prices.free_requests))
    allowance = Decimal(prices.free_gb_seconds)
    free_x86 = min(gb_seconds(x86_mb_ms), allowance)
    free_arm = min(gb_seconds(arm_mb_ms), allowance - free_x86)
    credit = (free_requests * prices.requests_per_million / MILLION + free_x86 * prices.gb_second_x86_64
              + free_arm * prices.gb_second_arm64)
    return {"requests": free_requests, "gb_seconds": free_x86 + free_arm, "credit": credit}
