"""Shared vocabulary: the names every layer uses for the same things."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NewType

RequestId = NewType("RequestId", str)
Region = NewType("Region", str)
AccountId = NewType("AccountId", str)

LATEST = "$LATEST"


class InvocationType(enum.StrEnum):
    REQUEST_RESPONSE = "RequestResponse"
    EVENT = "Event"
    DRY_RUN = "DryRun"


class FunctionErrorType(enum.StrEnum):
    """``errorType`` values the platform itself produces (AWS's strings)."""

    HANDLER_ERROR = "Runtime.HandlerError"
    IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
    HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
    USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
    INIT_ERROR = "Runtime.InitError"
    EXIT_ERROR = "Runtime.ExitError"
    OUT_OF_MEMORY = "Runtime.OutOfMemory"
    INVALID_ENTRYPOINT = "Runtime.InvalidEntrypoint"
    TIMEOUT = "Sandbox.Timedout"
    RESPONSE_TOO_LARGE = "Function.ResponseSizeTooLarge"


@dataclass(frozen=True, slots=True)
class FunctionKey:
    """Identifies a function across regions: resources live per region, as on AWS."""

    region: str
    name: str
