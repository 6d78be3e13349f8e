"""Deploying the examples shipped in ``examples/`` (``lamina serve --examples examples``, ``make run``).

Every folder of the examples folder that holds a template (``template.yaml``, ``template.json``,
``serverless.yml``, … as :func:`lamina.deploy.template.find_template` looks for them) is deployed
as stack ``<folder name>`` through the deploy engine, against the server's own endpoint, exactly as
``lamina deploy examples/<folder>`` would: the stack's record is kept on the server
(``/_lamina/stacks``), so a template that did not change changes nothing on the next start.

:class:`ExampleDeployer` does this in a background thread started once the server listens, so
serving is not delayed; each example's outcome is logged, and an example that fails to deploy
logs an error and leaves the server and the other examples alone. Builds are cached in the data
directory, not in the example folders.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from lamina.config import Settings

log = logging.getLogger(__name__)


@dataclass
class ExampleOutcome:
    """One example's deploy: what changed as ``"<logical id> (<action>)"``, or the error."""

    name: str
    changes: list[str] = field(default_factory=list)
    error: str | None = None


def example_folders(examples: Path) -> list[Path]:
    """The folders of ``examples`` that hold a template, sorted by name."""
    from lamina.deploy.template import TEMPLATE_NAMES

    return [folder for folder in sorted(examples.iterdir())
            if folder.is_dir() and any((folder / name).is_file() for name in TEMPLATE_NAMES)]


def local_endpoint(settings: Settings) -> str:
    """Where this process reaches its own server (a wildcard listen address is reached on loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.host, settings.host)
    return f"http://[{host}]:{settings.port}" if ":" in host else f"http://{host}:{settings.port}"


def deploy_example(folder: Path, settings: Settings, build_cache: Path) -> ExampleOutcome:
    """Deploy one example folder as stack ``<folder name>``; errors are returned, not raised."""
    from lamina.cli import remote
    from lamina.cli.stacks import StackStore, StackStoreError
    from lamina.deploy import engine, template
    from lamina.deploy.model import TemplateError
    from lamina.deploy.state import StackState

    name = template.safe_stack_name(folder.name)
    endpoint = local_endpoint(settings)
    try:
        stack = template.load(folder, stack_name=name, region=settings.region, account_id=settings.account_id)
        store = StackStore(endpoint, stack.region)
        prior = store.get(stack.name) or StackState(stack.name, stack.region, stack.account_id)
        plan = engine.plan(stack, prior, build=engine.builder(build_cache))
        clients = engine.Clients(remote.client("lambda", endpoint, stack.region),
                                 remote.client("sqs", endpoint, stack.region),
                                 remote.client("apigatewayv2", endpoint, stack.region))
        outcome = engine.apply(plan, clients, save=store.put)
    except (TemplateError, engine.BuildError, engine.ApplyError, StackStoreError) as error:
        return ExampleOutcome(name, error=str(error))
    changes = [f"{d.logical_id} ({d.action})" for d in outcome.done if d.action not in ("unchanged", "no-op")]
    return ExampleOutcome(name, changes)


class ExampleDeployer:
    """Deploys every example of a folder in a background thread (see the module docstring).

    :meth:`start` returns at once. :meth:`cancel` asks the thread to finish after the example it is
    deploying; a deploy the server's shutdown then cuts short is not reported as an error.
    :meth:`join` waits for the thread. ``outcomes`` fills in as examples finish.
    """

    def __init__(self, examples: Path, settings: Settings) -> None:
        self._examples = examples
        self._settings = settings
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lamina-examples", daemon=True)
        self.outcomes: list[ExampleOutcome] = []

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._stopping.set()

    def join(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            folders = example_folders(self._examples)
        except OSError as error:
            log.error("cannot read the examples folder %s: %s", self._examples, error)
            return
        cache = self._settings.data_dir / "example-builds"
        for folder in folders:
            if self._stopping.is_set():
                return
            outcome = deploy_example(folder, self._settings, cache)
            self.outcomes.append(outcome)
            if outcome.error is not None:
                if self._stopping.is_set():
                    log.info("example %s: deploy interrupted by shutdown", outcome.name)
                else:
                    log.error("example %s failed to deploy: %s", outcome.name, outcome.error)
            elif outcome.changes:
                log.info("example %s deployed: %s", outcome.name, ", ".join(outcome.changes))
            else:
                log.info("example %s is up to date", outcome.name)
