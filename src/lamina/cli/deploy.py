"""``lamina deploy [PATH]`` and ``lamina delete STACK``: templates to running resources and back.

``deploy`` loads the template (:func:`lamina.deploy.template.load`), builds the code, prints the
plan (every resource's action and changed properties), applies it and prints where things are
(functions, API URLs, queue URLs, function URLs) and the template's Outputs. ``--dry-run`` stops
after the plan. The stack's record lives on the server (``/_lamina/stacks``), saved after every
step, so any client sees it and ``delete`` removes everything a stack made (DeletionPolicy Retain
resources stay).

Tables and results go to stdout, progress bars and errors to stderr. ``--output json`` prints one
JSON document instead (also when a deploy fails part way). Exit codes: 0 done, 2 the template,
the code, the server or a resource refused (a message on stderr saying which and why).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from lamina.cli import remote
from lamina.cli.stacks import StackStore, StackStoreError

if TYPE_CHECKING:
    from rich.console import Console

    from lamina.deploy.apply import Done, Outcome
    from lamina.deploy.handlers.base import Clients
    from lamina.deploy.plan import Plan

_ACTION_STYLE = {"create": "green", "update": "yellow", "replace": "magenta", "delete": "red", "unchanged": "dim",
                 "no-op": "dim", "retained": "cyan"}


@dataclass(frozen=True)
class DeployRequest:
    path: Path
    stack_name: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False
    output: str = "table"


class CliFailure(Exception):
    """Stop with a message on stderr and exit code 2; ``document`` is printed first with --output json."""

    def __init__(self, message: str, document: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.document = document


def parse_overrides(values: list[str]) -> dict[str, str]:
    """``Key=Value`` pairs (SAM's ``ParameterKey=K,ParameterValue=V`` too), several per value when
    separated by spaces, as ``sam deploy --parameter-overrides`` takes them."""
    found: dict[str, str] = {}
    for value in values:
        for token in shlex.split(value):
            if token.startswith("ParameterKey="):
                parts = dict(part.split("=", 1) for part in token.split(",") if "=" in part)
                if "ParameterValue" not in parts:
                    raise typer.BadParameter(f"{token}: ParameterKey needs a ParameterValue")
                found[parts["ParameterKey"]] = parts["ParameterValue"]
                continue
            key, sep, item = token.partition("=")
            if not sep or not key:
                raise typer.BadParameter(f"{token}: parameter overrides are Key=Value")
            found[key] = item
    return found


def _clients(endpoint: str, region: str) -> Clients:
    from lamina.deploy.handlers.base import Clients

    return Clients(remote.client("lambda", endpoint, region), remote.client("sqs", endpoint, region),
                   remote.client("apigatewayv2", endpoint, region))


def _consoles() -> tuple[Console, Console]:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True), Console(stderr=True, highlight=False, soft_wrap=True)


class _Bars:
    """The engine's progress (:class:`lamina.deploy.plan.Progress`) as rich progress bars on stderr."""

    def __init__(self, console: Console, enabled: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description:<10}"), BarColumn(),
                                  MofNCompleteColumn(), TextColumn("{task.fields[label]}"), console=console,
                                  transient=True, disable=not enabled)
        self._task: Any = None

    def start(self, phase: str, total: int) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(phase.capitalize(), total=max(total, 1), label="")

    def advance(self, label: str) -> None:
        if self._task is not None:
            self._progress.update(self._task, advance=1, label=label)

    @contextmanager
    def running(self) -> Iterator[_Bars]:
        with self._progress:
            yield self


# -- deploy ----------------------------------------------------------------------------------------

def run_deploy(request: DeployRequest, *, endpoint: str | None, region: str | None) -> None:
    out, err = _consoles()
    try:
        document = _deploy(request, remote.endpoint(endpoint), remote.region(region), out, err)
    except CliFailure as failure:
        if failure.document is not None and request.output == "json":
            typer.echo(json.dumps(failure.document, indent=2))
        typer.echo(f"error: {failure}", err=True)
        raise typer.Exit(2) from None
    if request.output == "json":
        typer.echo(json.dumps(document, indent=2))


def _deploy(request: DeployRequest, endpoint: str, region: str, out: Console, err: Console) -> dict[str, Any]:
    from lamina.deploy import engine, template
    from lamina.deploy.model import TemplateError
    from lamina.deploy.state import StackState

    store = StackStore(endpoint, region)
    try:
        account = str(store.info()["accountId"])
        stack = template.load(request.path, stack_name=request.stack_name, region=region, account_id=account,
                              parameters=request.parameters)
        # A serverless.yml may name its own region.
        store = StackStore(endpoint, stack.region)
        prior = store.get(stack.name) or StackState(stack.name, stack.region, account)
        bars = _Bars(err, request.output != "json")
        with bars.running():
            plan = engine.plan(stack, prior, build=engine.builder(stack.source.parent / ".lamina-build"),
                               progress=bars)
    except (TemplateError, engine.BuildError, StackStoreError) as error:
        raise CliFailure(str(error)) from None
    document: dict[str, Any] = {"stackName": stack.name, "region": stack.region, "dryRun": request.dry_run,
                                "plan": plan_rows(plan)}
    if request.output != "json":
        show_plan(out, plan)
    if request.dry_run:
        if request.output != "json":
            out.print("Dry run: nothing was changed.")
        return document
    outcome = _apply(plan, endpoint, store, bars, document)
    document.update(result_document(outcome))
    if request.output != "json":
        show_result(out, outcome, changed=plan.has_changes)
    return document


def _apply(plan: Plan, endpoint: str, store: StackStore, bars: _Bars, document: dict[str, Any]) -> Outcome:
    from lamina.deploy import engine

    assert plan.stack is not None
    try:
        with bars.running():
            return engine.apply(plan, _clients(endpoint, plan.stack.region), progress=bars, save=store.put)
    except engine.ApplyError as error:
        document.update(status=error.state.status, error={"logicalId": error.logical_id, "type": error.resource_type,
                                                          "message": error.message},
                        done=[_done_row(d) for d in error.done])
        raise CliFailure(f"{error}\nWhat exists is recorded in stack {plan.stack.name}: fix the cause and deploy "
                         f"again, or remove it with `lamina delete {plan.stack.name}`.", document) from None
    except StackStoreError as error:
        raise CliFailure(f"{error}; the stack's record may miss what was just made", document) from None


def plan_rows(plan: Plan) -> list[dict[str, Any]]:
    return [{"logicalId": c.logical_id, "type": c.type, "action": "retain" if c.retain else c.action,
             "changes": list(c.changed)} for c in plan.changes]


def show_plan(out: Console, plan: Plan) -> None:
    from rich.table import Table

    counts: dict[str, int] = {}
    for change in plan.changes:
        counts[change.action] = counts.get(change.action, 0) + 1
    name = plan.stack.name if plan.stack else plan.prior.name
    region = plan.stack.region if plan.stack else plan.prior.region
    summary = ", ".join(f"{n} {action}" for action, n in counts.items())
    table = Table(title=f"Plan for stack {name} ({region}): {summary or 'nothing'}", title_justify="left")
    for heading in ("resource", "type", "action", "changes"):
        table.add_column(heading)
    for change in plan.changes:
        action = "delete (retain)" if change.retain else change.action
        style = _ACTION_STYLE.get(change.action, "")
        # A create's properties are all new; listing them says nothing.
        changes = ", ".join(change.changed) if change.action in ("update", "replace") else ""
        table.add_row(change.logical_id, _short(change.type), f"[{style}]{action}[/]" if style else action, changes)
    out.print(table)


def _short(resource_type: str) -> str:
    """``AWS::Lambda::Function`` as ``Lambda::Function``: every type Lamina deploys is AWS's."""
    return resource_type.removeprefix("AWS::")


def _done_row(done: Done) -> dict[str, Any]:
    return {"logicalId": done.logical_id, "type": done.type, "action": done.action, "physicalId": done.physical_id}


def result_document(outcome: Outcome) -> dict[str, Any]:
    from lamina.deploy.outputs import summary

    state = outcome.state
    return {"status": state.status, "done": [_done_row(d) for d in outcome.done],
            "outputs": {name: item["Value"] for name, item in state.outputs.items()}, **summary(state)}


def show_result(out: Console, outcome: Outcome, *, changed: bool) -> None:
    """Where things are and the Outputs, one per line: URLs and ARNs are printed whole, never
    folded into table cells, so they can be copied."""
    from rich.markup import escape

    from lamina.deploy.outputs import summary

    state = outcome.state
    if not changed:
        out.print(f"No changes: stack {state.name} is up to date.")
    else:
        out.print(f"Stack {state.name}: [bold green]{state.status}[/]")
    where = summary(state)
    rows = [("function", item["logicalId"], item["name"]) for item in where["functions"]]
    rows += [("API", item["logicalId"], url) for item in where["apis"] for url in item["urls"] or [item["endpoint"]]]
    rows += [("queue", item["logicalId"], item["url"]) for item in where["queues"]]
    rows += [("function URL", item["logicalId"], item["url"]) for item in where["functionUrls"]]
    if rows:
        out.print("[bold]Resources[/]")
        widths = [max(len(row[i]) for row in rows) for i in (0, 1)]
        for kind, lid, place in rows:
            out.print(f"  {kind:<{widths[0]}}  {escape(lid):<{widths[1]}}  {escape(place)}")
    if state.outputs:
        out.print("[bold]Outputs[/]")
        for name, item in state.outputs.items():
            value = item["Value"] if isinstance(item["Value"], str) else json.dumps(item["Value"])
            note = f"  [dim]# {escape(item['Description'])}[/]" if item.get("Description") else ""
            out.print(f"  {escape(name)} = {escape(value)}{note}")


# -- delete ----------------------------------------------------------------------------------------

def run_delete(name: str, *, output: str, endpoint: str | None, region: str | None) -> None:
    out, err = _consoles()
    url, where = remote.endpoint(endpoint), remote.region(region)
    store = StackStore(url, where)
    try:
        document = _delete(name, store, url, where, output, err)
    except CliFailure as failure:
        if failure.document is not None and output == "json":
            typer.echo(json.dumps(failure.document, indent=2))
        typer.echo(f"error: {failure}", err=True)
        raise typer.Exit(2) from None
    if output == "json":
        typer.echo(json.dumps(document, indent=2))
    else:
        show_deleted(out, document)


def _delete(name: str, store: StackStore, endpoint: str, region: str, output: str, err: Console) -> dict[str, Any]:
    from lamina.deploy import engine

    try:
        prior = store.get(name)
    except StackStoreError as error:
        raise CliFailure(str(error)) from None
    if prior is None:
        raise CliFailure(f"stack {name} does not exist in {region}")
    bars = _Bars(err, output != "json")
    try:
        with bars.running():
            outcome = engine.destroy(prior, _clients(endpoint, region), progress=bars, save=store.put)
        store.delete(name)
    except engine.ApplyError as error:
        document = {"stackName": name, "region": region, "status": error.state.status,
                    "error": {"logicalId": error.logical_id, "type": error.resource_type, "message": error.message},
                    **_deleted(error.done)}
        raise CliFailure(f"{error}\nThe stack's record keeps what is left; run `lamina delete {name}` again once "
                         "the cause is fixed.", document) from None
    except StackStoreError as error:
        raise CliFailure(str(error)) from None
    return {"stackName": name, "region": region, "status": outcome.state.status, **_deleted(outcome.done)}


def _deleted(done: list[Done]) -> dict[str, Any]:
    return {"deleted": [_done_row(d) for d in done if d.action == "delete"],
            "retained": [_done_row(d) for d in done if d.action == "retained"]}


def show_deleted(out: Console, document: dict[str, Any]) -> None:
    from rich.markup import escape

    out.print(f"Stack {document['stackName']} deleted ({document['region']})")
    rows = [("deleted", row) for row in document["deleted"]] + [("retained", row) for row in document["retained"]]
    if rows:
        widths = [max(len(row["logicalId"]) for _, row in rows), max(len(_short(row["type"])) for _, row in rows)]
        for result, row in rows:
            style = "red" if result == "deleted" else "cyan"
            out.print(f"  [{style}]{result:<8}[/]  {escape(row['logicalId']):<{widths[0]}}  "
                      f"{_short(row['type']):<{widths[1]}}  {escape(row['physicalId'])}")
    if document["retained"]:
        out.print("Retained resources (DeletionPolicy Retain) stay in place; delete them with the AWS CLI if needed.")
