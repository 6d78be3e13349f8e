"""Shared vocabulary: the names every layer uses for the same things."""

from __future__ import annotations

import enum
from typing import NamedTuple, NewType

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


class FunctionKey(NamedTuple):
    """Identifies a function across regions: resources live per region, as on AWS.

    A named tuple, not a frozen dataclass: it is hashed about ten times per invocation (the
    concurrency gate, the warm pool), and a tuple hashes and compares in C.
    """

    region: str
    name: str
