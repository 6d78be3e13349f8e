"""Composition root: builds every part from :class:`Settings`. No logic lives here."""

from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import dataclass, field

from lamina.aws.auth import authenticator, credential_accounts, parse_credentials
from lamina.aws.dispatch import Dispatcher
from lamina.aws.restjson import RestJsonProtocol
from lamina.clock import Clock, SystemClock
from lamina.config import Settings
from lamina.errors import InvalidRequestContentException
from lamina.invoker import runtimes
from lamina.invoker.event_config import EventInvokeConfigs
from lamina.invoker.events import AsyncInvoker, tolerant
from lamina.invoker.invoker import Invoker
from lamina.invoker.provisioned import ProvisionedConcurrency
from lamina.observability.link import TelemetryLink
from lamina.observability.logs import LogSink, NullLogSink
from lamina.registry.aliases import AliasRegistry
from lamina.registry.code import CodeStore
from lamina.registry.functions import FunctionRegistry
from lamina.registry.layers import LayerRegistry
from lamina.registry.policies import PolicyRegistry, allows
from lamina.sandbox import init as native_init
from lamina.sandbox import jail
from lamina.sandbox.spawner import Spawner, ZygoteConfig
from lamina.services.apigatewayv2.protocol import ApiGatewayV2Protocol
from lamina.services.apigatewayv2.provider import ApiGatewayV2Provider
from lamina.services.cloudwatch.provider import CloudWatchProvider, cloudwatch_protocol
from lamina.services.lambda_.event_invoke_config import EventParts
from lamina.services.lambda_.provider import LambdaProvider
from lamina.services.logs.provider import LogsProvider, logs_protocol
from lamina.services.sqs.provider import SqsProvider, sqs_protocol
from lamina.services.sqs.queues import QueueManager
from lamina.store.db import Store
from lamina.store.events import EventStore
from lamina.store.gateway import GatewayStore
from lamina.store.queues import QueueStore
from lamina.store.resources import Resources
from lamina.store.stacks import StackStore
from lamina.triggers.esm.manager import MappingManager
from lamina.triggers.gateway.edge import Gateway
from lamina.triggers.gateway.function_urls import FunctionUrlGateway
from lamina.triggers.gateway.http_api import HttpApiGateway
from lamina.triggers.gateway.invoke import Caller
from lamina.triggers.gateway.model import FunctionUrl
from lamina.triggers.gateway.registry import FunctionUrlRegistry, HttpApiRegistry

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

    def __post_init__(self) -> None:
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(settings.db_url)
        # Logs, metrics, usage records, traces, kept by the telemetry process (started in start());
        # the X-Ray listener is bound now, so environments learn its address
        # (AWS_XRAY_DAEMON_ADDRESS) from the settings.
        self.telemetry = TelemetryLink(settings, self.clock)
        settings = self.settings = settings.replace(xray_daemon_address=self.telemetry.xray_address)
        self.code = CodeStore(settings.data_dir / "code", settings.limits)
        self.registry = FunctionRegistry(settings, self.store, self.code, self.clock)
        self.resources = Resources(self.store)
        # What `lamina deploy` created, per stack, so every client sees the same stacks.
        self.stacks = StackStore(self.store)
        self.aliases = AliasRegistry(self.registry, self.resources, self.clock)
        self.policies = PolicyRegistry(self.registry, self.resources, self.clock)
        self.layers = LayerRegistry(settings, self.code, self.resources, self.clock,
                                    settings.data_dir / "code" / "opt")
        self.registry.code_users.append(self.layers.uses_code)
        self.logs: LogSink = self.telemetry.logs if settings.observability else NullLogSink()
        self.spawner = Spawner(ZygoteConfig(
            isolation=settings.isolation, code_root=str((settings.data_dir / "code").resolve()),
            hide=(str(settings.data_dir.resolve()),), tmp_root=str((settings.data_dir / "tmp").resolve()),
            init=native_init.build_quietly(native_init.cache_folder(settings.data_dir))))
        self.invoker = Invoker(settings, self.registry, self.spawner, self.logs, self.clock,
                               opt_tree=self.layers.opt_tree)
        if settings.observability:
            self.telemetry.attach(self.invoker)
        self.provisioned = ProvisionedConcurrency(self.invoker, self.registry, self.aliases, self.resources,
                                                  self.clock)
        # HTTP triggers: definitions (function URLs, HTTP APIs) and the gateway that serves them.
        gateway_store = GatewayStore(self.store)
        self.function_urls = FunctionUrlRegistry(gateway_store, self.clock, self.registry)
        self.http_apis = HttpApiRegistry(gateway_store)
        caller = Caller(self.invoker, lambda region, name, qualifier: self.aliases.resolve(
            region, name, qualifier, route=True)[0], settings.limits.sync_payload_bytes)
        self.gateway = Gateway(
            FunctionUrlGateway(self.function_urls, caller, self.clock, port=settings.port,
                               credentials=parse_credentials(settings.credentials), strict=settings.auth,
                               accounts=credential_accounts(settings.credentials), permits=self._url_permits),
            HttpApiGateway(self.http_apis, caller, self.clock, port=settings.port),
            url_max_body=settings.limits.sync_payload_bytes)
        self.dispatcher = Dispatcher(authenticator(settings.credentials) if settings.auth else None)
        self.dispatcher.register(
            "lambda",
            RestJsonProtocol("lambda", overrides=lambda_overrides(settings),
                             parse_error=InvalidRequestContentException),
            LambdaProvider(settings, self.registry, self.invoker, self.aliases, self.layers, self.policies,
                           self.provisioned, function_urls=self.function_urls),
        )
        self.dispatcher.register("apigatewayv2", ApiGatewayV2Protocol(),
                                 ApiGatewayV2Provider(settings, self.http_apis, self.clock))
        self.queues = QueueManager(QueueStore(self.store), self.clock)
        self.dispatcher.register("sqs", sqs_protocol(), SqsProvider(self.queues))
        # Served by the telemetry process, where the logs and metrics are.
        self.dispatcher.register("logs", logs_protocol(), self.telemetry.provider("logs", LogsProvider))
        self.dispatcher.register("cloudwatch", cloudwatch_protocol(),
                                 self.telemetry.provider("cloudwatch", CloudWatchProvider))
        # Asynchronous invocation (durable queue, retries, destinations) and SQS event source mappings.
        events_store = EventStore(self.store)
        resolve = tolerant(lambda region, name, qualifier: self.aliases.resolve(region, name, qualifier,
                                                                                 route=True)[0])
        self.event_configs = EventInvokeConfigs(events_store)
        self.event_configs.watch(self.registry)
        self.events = AsyncInvoker(events_store, self.queues, self.event_configs, self.invoker, resolve, self.clock,
                                   scale=settings.async_retry_scale, lease_s=settings.async_lease_s,
                                   report=self.telemetry.async_event if settings.observability else None)
        self.mappings = MappingManager(events_store, self.queues, self.invoker, resolve, self.clock)
        lambda_api = next(r.provider for r in self.dispatcher.services if r.service == "lambda")
        assert isinstance(lambda_api, LambdaProvider)
        lambda_api.attach_events(EventParts(self.events, self.event_configs, self.mappings, self.queues, self.clock))
        self.telemetry.gauge("lamina_async_queue_depth", "Asynchronous events accepted and not finished.", (),
                             lambda: {(): float(self.events.pending())})
        self.telemetry.gauge("lamina_async_oldest_event_age_seconds",
                             "Age of the oldest asynchronous event accepted and not finished.", (),
                             lambda: {(): self.events.oldest_age()})

    def _url_permits(self, url: FunctionUrl, account: str) -> bool:
        """Another account may call an AWS_IAM function URL when the function's policy allows it."""
        return any(allows(self.policies.get(url.region, url.function_name, qualifier), "lambda:InvokeFunctionUrl",
                          account=account, url_auth_type="AWS_IAM")
                   for qualifier in {url.qualifier or "", ""})

    async def start(self) -> None:
        if self.settings.isolation != "off":
            # Cgroup trees of zygotes killed without removing them (a killed server's), removed
            # before any zygote of ours starts: every rmdir takes the kernel's cgroup lock, and a
            # sweep of hundreds beside live zygotes held their environments' starts up for seconds.
            swept = await asyncio.to_thread(jail.sweep_cgroups)
            if swept:
                log.info("removed %d cgroup trees left by zygotes that were killed", swept)
        await asyncio.to_thread(self.store.migrate)
        await asyncio.to_thread(self.registry.load)
        await asyncio.to_thread(self.aliases.load)
        await asyncio.to_thread(self.layers.load)
        await asyncio.to_thread(self.policies.load)
        await asyncio.to_thread(self.function_urls.load)
        await asyncio.to_thread(self.http_apis.load)
        await self.queues.start()
        self.invoker.start()
        await asyncio.to_thread(self.event_configs.load)
        await self.events.start()
        await self.mappings.start()
        self.provisioned.start()
        # Find interpreters now, not on the first cold start (each probe runs the binary once).
        await asyncio.to_thread(runtimes.pythons)
        await asyncio.to_thread(runtimes.node)
        # Start the default zygote now: the first cold start then pays only a fork.
        self.features = await self.spawner.zygote(runtimes.default_python(self.settings)).features()
        off = [f"{name} ({info['reason']})" for name, info in self.features.items() if info["state"] != "on"]
        if off:
            log.warning("isolation features not in use: %s", "; ".join(off))
        # Last: its start-up (imports, loading metric minutes) would compete with the server's and
        # the default zygote's for the two cores. Invocations before it is up wait as rows.
        await self.telemetry.start()
        # What start-up allocated (service models, caches: ~100k objects) lives as long as the
        # process; freezing it keeps full collections (rows waiting for the telemetry process keep
        # young objects alive, which makes some) from scanning it again and again
        # (docs/performance.md, "Observability overhead").
        gc.freeze()

    async def stop(self) -> None:
        await self.mappings.close()
        await self.events.close()
        await self.invoker.close()
        await self.telemetry.stop()
        await self.queues.close()
        self.store.close()
