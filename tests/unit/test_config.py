"""Settings from LAMINA_* variables: values that cannot be used are refused with the variable's name."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from lamina.config import Settings, SettingsError


def test_every_variable_reaches_its_setting() -> None:
    settings = Settings.from_environ({
        "LAMINA_PORT": "4600", "LAMINA_KEEP_ALIVE": "2.5", "LAMINA_AUTH": "yes", "LAMINA_OBSERVABILITY": "off",
        "LAMINA_ASYNC_LEASE_S": "1", "LAMINA_XRAY_PORT": "-1", "LAMINA_TELEMETRY_SPAWN_AFTER": "0",
        "LAMINA_MIN_AVAILABLE_MB": "0", "LAMINA_LOG_LEVEL": "WARNING", "LAMINA_ISOLATION": "off",
        "LAMINA_LIMIT_CONCURRENT_EXECUTIONS": " 50 ", "LAMINA_PRICE_GB_SECOND_ARM64": "0.00001",
        "LAMINA_PRICE_FREE_REQUESTS": "0", "LAMINA_CRASH_BACKOFF_MAX": "2", "LAMINA_REALTIME": "no",
    })
    assert (settings.port, settings.keep_alive_s, settings.auth, settings.observability) == (4600, 2.5, True, False)
    assert (settings.async_lease_s, settings.xray_port, settings.telemetry_spawn_after_s) == (1.0, -1, 0.0)
    assert (settings.min_available_mb, settings.log_level, settings.isolation) == (0, "WARNING", "off")
    assert settings.limits.concurrent_executions == 50 and settings.crash_backoff_max_s == 2.0
    assert settings.realtime is False and Settings().realtime is True
    assert settings.prices.gb_second_arm64 == Decimal("0.00001") and settings.prices.free_requests == 0


@pytest.mark.parametrize(("environ", "message"), [
    ({"LAMINA_PORT": "abc"}, "LAMINA_PORT='abc' is not a whole number"),
    ({"LAMINA_PORT": "70000"}, "LAMINA_PORT must be from 0 to 65535, not 70000"),
    ({"LAMINA_KEEP_ALIVE": "0"}, "LAMINA_KEEP_ALIVE must be more than 0, not 0.0"),
    ({"LAMINA_KEEP_ALIVE": "soon"}, "LAMINA_KEEP_ALIVE='soon' is not a number"),
    ({"LAMINA_AUTH": "maybe"}, "LAMINA_AUTH='maybe' is not true or false"),
    ({"LAMINA_REALTIME": "fifo"}, "LAMINA_REALTIME='fifo' is not true or false"),
    ({"LAMINA_ASYNC_LEASE_S": "0.5"}, "LAMINA_ASYNC_LEASE_S must be at least 1, not 0.5"),
    ({"LAMINA_ASYNC_RETRY_SCALE": "-1"}, "LAMINA_ASYNC_RETRY_SCALE must be more than 0"),
    ({"LAMINA_XRAY_PORT": "-2"}, "LAMINA_XRAY_PORT must be from -1 to 65535"),
    ({"LAMINA_CRASH_BACKOFF_MAX": "-0.5"}, "LAMINA_CRASH_BACKOFF_MAX must be from 0 to 60, not -0.5"),
    ({"LAMINA_CRASH_BACKOFF_MAX": "forever"}, "LAMINA_CRASH_BACKOFF_MAX='forever' is not a number"),
    ({"LAMINA_ISOLATION": "full"}, "LAMINA_ISOLATION must be auto or off, not 'full'"),
    ({"LAMINA_LOG_LEVEL": "loud"}, "LAMINA_LOG_LEVEL must be one of critical, error, warning, info, debug"),
    ({"LAMINA_LIMIT_CONCURRENT_EXECUTIONS": "0"}, "LAMINA_LIMIT_CONCURRENT_EXECUTIONS must be at least 1, not 0"),
    ({"LAMINA_LIMIT_TIMEOUT_MAX_S": "1.5"}, "LAMINA_LIMIT_TIMEOUT_MAX_S='1.5' is not a whole number"),
    ({"LAMINA_LIMIT_MEMORY_MIN_MB": "20000"}, "LAMINA_LIMIT_MEMORY_MIN_MB (20000) is above LAMINA_LIMIT_MEMORY_MAX_MB"),
    ({"LAMINA_PRICE_GB_SECOND_X86_64": "cheap"}, "LAMINA_PRICE_GB_SECOND_X86_64='cheap' is not a decimal number"),
    ({"LAMINA_PRICE_REQUESTS_PER_MILLION": "NaN"}, "LAMINA_PRICE_REQUESTS_PER_MILLION must be 0 or more, not NaN"),
    ({"LAMINA_PRICE_FREE_GB_SECONDS": "-5"}, "LAMINA_PRICE_FREE_GB_SECONDS must be 0 or more, not -5"),
])
def test_a_value_that_cannot_be_used_is_refused_by_name(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_environ(environ)
    assert message in str(refused.value)


def test_flags_are_held_to_the_same_ranges() -> None:
    with pytest.raises(SettingsError, match="LAMINA_PORT must be from 0 to 65535, not -4"):
        Settings.from_environ({}, port=-4)
    with pytest.raises(SettingsError, match="LAMINA_KEEP_ALIVE must be more than 0"):
        Settings().replace(keep_alive_s=-1.0)


def test_the_cli_prints_the_reason_and_exits_2(tmp_path: Path) -> None:
    """No traceback and no server: one line naming the variable, exit status 2."""
    environ = {"PATH": "/usr/bin:/bin", "LAMINA_PORT": "http"}
    done = subprocess.run([sys.executable, "-m", "lamina", "serve", "--data-dir", str(tmp_path / "data")],
                          env=environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == "lamina: LAMINA_PORT='http' is not a whole number"
    assert not (tmp_path / "data").exists()
