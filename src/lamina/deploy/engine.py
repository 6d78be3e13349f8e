"""The deploy engine: plan a stack against its record, apply the plan, delete a stack.

``plan(stack, state, build=...)`` (:mod:`.plan`) decides, without calling the server, what happens
to every resource; ``apply(plan, clients, ...)`` (:mod:`.apply`) makes it so through the Lambda,
SQS and API Gateway v2 APIs, one resource handler per CloudFormation type (:mod:`.handlers`), and
returns the new :class:`~lamina.deploy.state.StackState`; ``destroy`` removes what a record names.
Code is packaged by :mod:`.build`; outputs are resolved by :mod:`.outputs`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from lamina.deploy.apply import ApplyError, Done, Outcome, apply
from lamina.deploy.build import Artifact, BuildError, package
from lamina.deploy.handlers.base import Clients, DeployError
from lamina.deploy.model import LocalPath
from lamina.deploy.plan import Change, NullProgress, Plan, Progress, plan, plan_delete
from lamina.deploy.state import StackState

__all__ = ["ApplyError", "Artifact", "BuildError", "Change", "Clients", "DeployError", "Done", "NullProgress",
           "Outcome", "Plan", "Progress", "StackState", "apply", "builder", "destroy", "plan", "plan_delete"]


def builder(cache: Path) -> Callable[[LocalPath], Artifact]:
    """``plan``'s ``build``: package code, caching builds under ``cache`` (``<template dir>/.lamina-build``)."""
    return partial(package, cache=cache)


def destroy(prior: StackState, clients: Clients, *, progress: Progress | None = None,
            save: Callable[[StackState], None] = lambda state: None,
            sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """Delete everything ``prior`` records, dependents first; DeletionPolicy Retain resources stay
    in place. The returned record is empty unless a delete failed (then ApplyError is raised)."""
    return apply(plan_delete(prior), clients, progress=progress, save=save, sleep=sleep)
