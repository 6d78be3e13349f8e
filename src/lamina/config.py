"""One settings object. Every limit defaults to AWS's documented value and can be changed.

Values come, in order of precedence, from command-line flags, ``LAMINA_*`` environment variables and
the defaults below. :meth:`Settings.from_environ` takes the environment as an argument so nothing is
read at import time. A value that is not of its type or out of its range raises
:class:`SettingsError`, which names the variable: the CLI prints it and exits with status 2.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NamedTuple

MB = 1024 * 1024
ISOLATION_MODES = ("auto", "off")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class SettingsError(ValueError):
    """A setting that cannot be used; the message names it and says what it must be."""


@dataclass(frozen=True)
class Limits:
    """Quotas, defaults from https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html."""

    code_zip_bytes: int = 50 * MB
    code_unzipped_bytes: int = 250 * MB
    # CreateFunction's whole request carries the zip base64-encoded in JSON (~4/3 of 50 MB + config).
    create_request_bytes: int = 70_167_211
    sync_payload_bytes: int = 6 * MB
    async_payload_bytes: int = 1 * MB
    memory_min_mb: int = 128
    memory_max_mb: int = 10_240
    timeout_max_s: int = 900
    ephemeral_min_mb: int = 512
    ephemeral_max_mb: int = 10_240
    env_vars_bytes: int = 4 * 1024
    concurrent_executions: int = 1000
    #: Unreserved concurrency that PutFunctionConcurrency must leave to the rest of the account.
    unreserved_minimum: int = 100
    #: New execution environments a function may add per 10 seconds.
    scale_per_10s: int = 1000
    code_storage_bytes: int = 75 * 1024 * MB
    zip_max_entries: int = 100_000

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value, least = getattr(self, f.name), 0 if f.name == "unreserved_minimum" else 1
            if value < least:
                raise SettingsError(f"LAMINA_LIMIT_{f.name.upper()} must be at least {least}, not {value}")
        for low, high in (("memory_min_mb", "memory_max_mb"), ("ephemeral_min_mb", "ephemeral_max_mb")):
            if getattr(self, low) > getattr(self, high):
                raise SettingsError(f"LAMINA_LIMIT_{low.upper()} ({getattr(self, low)}) is above "
                                    f"LAMINA_LIMIT_{high.upper()} ({getattr(self, high)})")


@dataclass(frozen=True)
class Prices:
    """What an invocation would cost on AWS, us-east-1 (https://aws.amazon.com/lambda/pricing/).

    Set each with ``LAMINA_PRICE_<FIELD>``, e.g. ``LAMINA_PRICE_GB_SECOND_X86=0.0000150000``.
    """

    requests_per_million: Decimal = Decimal("0.20")
    gb_second_x86_64: Decimal = Decimal("0.0000166667")
    gb_second_arm64: Decimal = Decimal("0.0000133334")
    #: The monthly free tier, shared by every function and both architectures.
    free_requests: int = 1_000_000
    free_gb_seconds: int = 400_000

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if (isinstance(value, Decimal) and not value.is_finite()) or value < 0:
                raise SettingsError(f"LAMINA_PRICE_{f.name.upper()} must be 0 or more, not {value}")


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 4566
    data_dir: Path = Path(".lamina")
    region: str = "us-east-1"
    account_id: str = "000000000000"
    #: Off by default for local use: signatures are not checked and clock skew is tolerated.
    auth: bool = False
    #: With ``auth``: the known keys, "AKID:SECRET,AKID2:SECRET2" (default "test:test").
    credentials: str = "test:test"
    #: SQLAlchemy URL; empty means SQLite in the data directory.
    database_url: str = ""
    #: Idle execution environments are reaped after this many seconds.
    keep_alive_s: float = 300.0
    #: Python interpreter that runs Python functions; empty means the one running Lamina.
    python: str = ""
    log_level: str = "info"
    #: "auto": every isolation feature the machine allows (cgroups, namespaces, unprivileged uid);
    #: "off": processes, rlimits and process groups only.
    isolation: str = "auto"
    #: Below this much available memory (MB), idle environments are stopped before new ones start.
    min_available_mb: int = 512
    #: Run the event loop under SCHED_FIFO where the machine allows it (see :mod:`lamina.priority`).
    realtime: bool = True
    #: Refuse to run a runtime whose exact version is not installed instead of substituting.
    strict_runtimes: bool = False
    #: Multiplies every wait of asynchronous invocation (retries after 1 and 2 minutes, the 1 s to
    #: 5 min backoff) and the maximum event age; 0.01 runs AWS's whole retry schedule in seconds.
    async_retry_scale: float = 1.0
    #: Seconds a node's claim on its queued asynchronous events lasts unless renewed (every third of
    #: it; at least 1). On PostgreSQL another node takes over the events of a node that stopped renewing.
    async_lease_s: float = 30.0
    #: Longest pause before a new environment of a function whose environments keep dying (see
    #: :mod:`lamina.invoker.backoff`); 0 starts replacements at once, however fast they die.
    crash_backoff_max_s: float = 0.5
    limits: Limits = field(default_factory=Limits)
    #: Logs, metrics, usage records and traces; off only to measure what they cost.
    observability: bool = True
    #: OTLP/HTTP collector base URL (``http://host:4318``) for spans; empty keeps them local only.
    otlp_endpoint: str = ""
    #: UDP port of the X-Ray daemon-compatible listener; 0 picks a free one, -1 turns it off.
    xray_port: int = 2000
    #: ``host:port`` functions send X-Ray segments to (``AWS_XRAY_DAEMON_ADDRESS``); set by the platform
    #: once the listener is bound, empty when it is off.
    xray_daemon_address: str = ""
    #: Seconds between retention sweeps of log groups with a retention policy.
    log_retention_sweep_s: float = 3600.0
    #: Seconds after start at which the telemetry process starts if no invocation or query asked
    #: for it sooner (see :mod:`lamina.observability.link`).
    telemetry_spawn_after_s: float = 5.0
    prices: Prices = field(default_factory=Prices)

    def __post_init__(self) -> None:
        for name, (var, low, high, above_low) in _RANGES.items():
            value = getattr(self, name)
            if not (low < value if above_low else low <= value) or value > high:
                must = (f"more than {low:g}" if above_low else f"at least {low:g}") if high == _ANY \
                    else f"from {low:g} to {high:g}"
                raise SettingsError(f"{var} must be {must}, not {value}")
        if self.isolation not in ISOLATION_MODES:
            raise SettingsError(f"LAMINA_ISOLATION must be {' or '.join(ISOLATION_MODES)}, not {self.isolation!r}")
        if self.log_level.lower() not in LOG_LEVELS:
            raise SettingsError(f"LAMINA_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}")

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'lamina.db').resolve()}"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Defaults, then ``LAMINA_*`` variables, then ``overrides`` whose value is not None."""
        values: dict[str, Any] = {}
        env: dict[str, tuple[str, Callable[[str], Any]]] = {
            "host": ("LAMINA_HOST", str),
            "port": ("LAMINA_PORT", int),
            "data_dir": ("LAMINA_DATA_DIR", Path),
            "region": ("LAMINA_REGION", str),
            "account_id": ("LAMINA_ACCOUNT_ID", str),
            "auth": ("LAMINA_AUTH", _boolean),
            "credentials": ("LAMINA_CREDENTIALS", str),
            "database_url": ("LAMINA_DATABASE_URL", str),
            "keep_alive_s": ("LAMINA_KEEP_ALIVE", float),
            "min_available_mb": ("LAMINA_MIN_AVAILABLE_MB", int),
            "python": ("LAMINA_PYTHON", str),
            "log_level": ("LAMINA_LOG_LEVEL", str),
            "isolation": ("LAMINA_ISOLATION", str),
            "realtime": ("LAMINA_REALTIME", _boolean),
            "strict_runtimes": ("LAMINA_STRICT_RUNTIMES", _boolean),
            "async_retry_scale": ("LAMINA_ASYNC_RETRY_SCALE", float),
            "async_lease_s": ("LAMINA_ASYNC_LEASE_S", float),
            "crash_backoff_max_s": ("LAMINA_CRASH_BACKOFF_MAX", float),
            "observability": ("LAMINA_OBSERVABILITY", _boolean),
            "otlp_endpoint": ("LAMINA_OTLP_ENDPOINT", str),
            "xray_port": ("LAMINA_XRAY_PORT", int),
            "log_retention_sweep_s": ("LAMINA_LOG_RETENTION_SWEEP", float),
            "telemetry_spawn_after_s": ("LAMINA_TELEMETRY_SPAWN_AFTER", float),
        }
        for name, (var, convert) in env.items():
            if var in environ:
                values[name] = _convert(var, environ[var], convert)
        # Every limit: LAMINA_LIMIT_<FIELD>, e.g. LAMINA_LIMIT_CONCURRENT_EXECUTIONS=50.
        limits = {f.name: _convert(f"LAMINA_LIMIT_{f.name.upper()}", environ[f"LAMINA_LIMIT_{f.name.upper()}"], int)
                  for f in dataclasses.fields(Limits) if f"LAMINA_LIMIT_{f.name.upper()}" in environ}
        if limits:
            values["limits"] = Limits(**limits)
        prices: dict[str, Any] = {}
        for f in dataclasses.fields(Prices):
            var = f"LAMINA_PRICE_{f.name.upper()}"
            if var in environ:
                prices[f.name] = _convert(var, environ[var], int if f.name.startswith("free_") else Decimal)
        if prices:
            values["prices"] = Prices(**prices)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(text)


_ANY = float("inf")


class _Range(NamedTuple):
    var: str
    low: float
    high: float = _ANY
    #: The value must be above ``low``, not equal to it.
    above_low: bool = False


#: Numeric settings: the variable that sets each, and its range.
_RANGES: dict[str, _Range] = {
    "port": _Range("LAMINA_PORT", 0, 65535),
    "keep_alive_s": _Range("LAMINA_KEEP_ALIVE", 0, above_low=True),
    "min_available_mb": _Range("LAMINA_MIN_AVAILABLE_MB", 0),
    "async_retry_scale": _Range("LAMINA_ASYNC_RETRY_SCALE", 0, above_low=True),
    # Renewed every third of it: under a second, a busy node would lose its own events.
    "async_lease_s": _Range("LAMINA_ASYNC_LEASE_S", 1),
    "crash_backoff_max_s": _Range("LAMINA_CRASH_BACKOFF_MAX", 0, 60),
    "xray_port": _Range("LAMINA_XRAY_PORT", -1, 65535),
    "log_retention_sweep_s": _Range("LAMINA_LOG_RETENTION_SWEEP", 0, above_low=True),
    "telemetry_spawn_after_s": _Range("LAMINA_TELEMETRY_SPAWN_AFTER", 0),
}

_KINDS: dict[Callable[[str], Any], str] = {int: "a whole number", float: "a number", Decimal: "a decimal number",
                                           _boolean: "true or false (1/0, yes/no, on/off)"}


def _convert(var: str, text: str, convert: Callable[[str], Any]) -> Any:
    try:
        return convert(text.strip())
    except (ValueError, InvalidOperation):
        raise SettingsError(f"{var}={text!r} is not {_KINDS.get(convert, 'valid')}") from None
