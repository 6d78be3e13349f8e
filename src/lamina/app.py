"""Composition root: builds every part from :class:`Settings`. No logic lives here."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from lamina.aws.dispatch import Dispatcher
from lamina.aws.restjson import RestJsonProtocol
from lamina.clock import Clock, SystemClock
from lamina.config import Settings
from lamina.errors import InvalidRequestContentException
from lamina.invoker import runtimes
from lamina.invoker.invoker import Invoker
from lamina.invoker.provisioned import ProvisionedConcurrency
from lamina.observability.logs import MemoryLogSink
from lamina.registry.aliases import AliasRegistry
from lamina.registry.code import CodeStore
from lamina.registry.functions import FunctionRegistry
from lamina.registry.layers import LayerRegistry
from lamina.registry.policies import PolicyRegistry
from lamina.sandbox.spawner import Spawner, ZygoteConfig
from lamina.services.lambda_.provider import LambdaProvider
from lamina.services.sqs.provider import SqsProvider, sqs_protocol
from lamina.services.sqs.queues import QueueManager
from lamina.store.db import Store
from lamina.store.queues import QueueStore
from lamina.store.resources import Resources

log = logging.getLogger(__name__)


def lambda_overrides(settings: Settings) -> dict[str, dict[str, int | str]]:
    """The documented limits of standard functions, tighter than the model's bounds
    (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)."""
    limits = settings.limits
    memory: dict[str, int | str] = {"min": limits.memory_min_mb, "max": limits.memory_max_mb}
    timeout: dict[str, int | str] = {"min": 1, "max": limits.timeout_max_s}
    storage: dict[str, int | str] = {"min": limits.ephemeral_min_mb, "max": limits.ephemeral_max_mb}
    overrides: dict[str, dict[str, int | str]] = {}
    for request in ("CreateFunctionRequest", "UpdateFunctionConfigurationRequest"):
        overrides[f"{request}.MemorySize"] = memory
        overrides[f"{request}.Timeout"] = timeout
    overrides["EphemeralStorage.Size"] = storage
    return overrides


@dataclass
class Platform:
    """Every long-lived part of one Lamina node."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    #: A folder of example functions to deploy at start (``make run``).
    examples: Path | None = None

    def __post_init__(self) -> None:
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(settings.db_url)
        self.code = CodeStore(settings.data_dir / "code", settings.limits)
        self.registry = FunctionRegistry(settings, self.store, self.code, self.clock)
        self.resources = Resources(self.store)
        self.aliases = AliasRegistry(self.registry, self.resources, self.clock)
        self.policies = PolicyRegistry(self.registry, self.resources, self.clock)
        self.layers = LayerRegistry(settings, self.code, self.resources, self.clock,
                                    settings.data_dir / "code" / "opt")
        self.logs = MemoryLogSink()
        self.spawner = Spawner(ZygoteConfig(
            isolation=settings.isolation, code_root=str((settings.data_dir / "code").resolve()),
            hide=(str(settings.data_dir.resolve()),), tmp_root=str((settings.data_dir / "tmp").resolve())))
        self.invoker = Invoker(settings, self.registry, self.spawner, self.logs, self.clock,
                               opt_tree=self.layers.opt_tree)
        self.provisioned = ProvisionedConcurrency(self.invoker, self.registry, self.aliases, self.resources,
                                                  self.clock)
        self.dispatcher = Dispatcher()
        self.dispatcher.register(
            "lambda",
            RestJsonProtocol("lambda", overrides=lambda_overrides(settings),
                             parse_error=InvalidRequestContentException),
            LambdaProvider(settings, self.registry, self.invoker, self.aliases, self.layers, self.policies,
                           self.provisioned),
        )
        self.queues = QueueManager(QueueStore(self.store), self.clock)
        self.dispatcher.register("sqs", sqs_protocol(), SqsProvider(self.queues))

    async def start(self) -> None:
        await asyncio.to_thread(self.store.migrate)
        await asyncio.to_thread(self.registry.load)
        await asyncio.to_thread(self.aliases.load)
        await asyncio.to_thread(self.layers.load)
        await asyncio.to_thread(self.policies.load)
        await self.queues.start()
        self.invoker.start()
        self.provisioned.start()
        # Find interpreters now, not on the first cold start (each probe runs the binary once).
        await asyncio.to_thread(runtimes.pythons)
        await asyncio.to_thread(runtimes.node)
        # Start the default zygote now: the first cold start then pays only a fork.
        self.features = await self.spawner.zygote(runtimes.default_python(self.settings)).features()
        off = [f"{name} ({info['reason']})" for name, info in self.features.items() if info["state"] != "on"]
        if off:
            log.warning("isolation features not in use: %s", "; ".join(off))
        if self.examples is not None:
            from lamina.examples import deploy

            names = await deploy(self.settings, self.registry, self.examples)
            if names:
                log.warning("deployed example functions: %s", ", ".join(names))

    async def stop(self) -> None:
        await self.invoker.close()
        await self.queues.close()
        self.store.close()
