"""Lamina's Python runtime bootstrap: the Lambda Runtime API client that runs the user's handler.

It runs inside the execution environment, on the function's interpreter (3.9 or later), and behaves
like AWS's Python runtime (awslambdaric 4.x) as seen by user code and by the platform. Stdlib only.

Two ways to start it, one contract:

* ``python bootstrap.py`` (script mode);
* imported once by a long-lived zygote that later ``os.fork()``\\ s and calls :func:`main` in the child
  after setting the environment variables, cwd and fds. Importing this module therefore only defines
  things: no environment reads, no threads, no sockets, no logging setup. Everything is read from
  ``os.environ`` inside :func:`main`.

:func:`main` reads ``AWS_LAMBDA_RUNTIME_API``, ``_HANDLER``, ``LAMBDA_TASK_ROOT``,
``AWS_LAMBDA_LOG_FORMAT``, ``AWS_LAMBDA_LOG_LEVEL``, ``AWS_EXECUTION_ENV`` and the
``AWS_LAMBDA_FUNCTION_*`` / ``AWS_LAMBDA_LOG_*`` names, loads the handler, then loops forever on
``GET /runtime/invocation/next``. It never returns; it ends the process by raising ``SystemExit``:

* ``EXIT_INIT_ERROR`` (1) after the init error was reported with ``POST /runtime/init/error``, as
  awslambdaric does; the platform takes that report as the invocation's result;
* ``EXIT_RUNTIME_API_ERROR`` (2) when the Runtime API is unreachable, answers ``GET next`` with
  anything but 200, or answers a POST with a 5xx (the Runtime API docs call 500 "non-recoverable
  state, runtime should exit promptly"); one diagnostic line goes to stderr first.

A 4xx answer to a response/error POST (400 unknown id, 403 wrong state, 413 payload too large) is
written to stderr and the loop goes on: the platform has already settled that invocation.
User code that raises ``SystemExit`` or ``KeyboardInterrupt`` ends the process, as on AWS.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import resource
import socket
import struct
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TextIO, cast

__all__ = [
    "EXIT_INIT_ERROR",
    "EXIT_RUNTIME_API_ERROR",
    "Client",
    "ClientContext",
    "CognitoIdentity",
    "LambdaContext",
    "RuntimeApiClient",
    "RuntimeApiError",
    "load_handler",
    "main",
]

EXIT_INIT_ERROR = 1
EXIT_RUNTIME_API_ERROR = 2

# errorType values, spelled as awslambdaric's FaultException spells them.
MARSHAL_ERROR = "Runtime.MarshalError"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
LAMBDA_CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

_API_PREFIX = "/2018-06-01/runtime"
_TEXT_LOG_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
_TEXT_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
_JSON_DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # awslambdaric's JSON records carry no milliseconds
_NBSP = "\u00a0"
# awslambdaric drops the X-Ray cause header at 1 MiB; common HTTP servers refuse header lines past
# 64 KiB (a RecursionError's cause is larger), so the cap is lower here.
_XRAY_CAUSE_LIMIT = 64 * 1024
# The zygote restores SIGPIPE to its default action in each child: a send on a socket the server
# closed must fail with EPIPE, not kill the process.
_SEND_FLAGS = getattr(socket, "MSG_NOSIGNAL", 0)

Handler = Callable[[Any, "LambdaContext"], Any]
JsonDict = dict[str, Any]

# The invocation being handled; read by the log filter. Written only by the invoke loop of the
# process that runs main(), so a fork inherits nothing stale that matters.
_request_id = ""
_tenant_id: str | None = None


class _Fault(Exception):
    """A runtime-detected failure with an AWS ``errorType`` (awslambdaric's FaultException)."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace


class RuntimeApiError(Exception):
    """The Runtime API could not be reached or answered outside the protocol; ``status`` 0 = no answer."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


# --- the context object --------------------------------------------------------------------------


class CognitoIdentity:
    """``context.identity``; both fields are None unless the invoke carried a Cognito identity."""

    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, identity: JsonDict | None = None) -> None:
        identity = identity or {}
        self.cognito_identity_id: Any = identity.get("cognitoIdentityId")
        self.cognito_identity_pool_id: Any = identity.get("cognitoIdentityPoolId")

    def __repr__(self) -> str:
        return (f"CognitoIdentity([cognito_identity_id={self.cognito_identity_id},"
                f"cognito_identity_pool_id={self.cognito_identity_pool_id}])")


class Client:
    """``context.client_context.client``: the mobile app that invoked (AWS Mobile SDK field names)."""

    __slots__ = ("app_package_name", "app_title", "app_version_code", "app_version_name", "installation_id")

    def __init__(self, client: JsonDict) -> None:
        self.installation_id: Any = client.get("installation_id")
        self.app_title: Any = client.get("app_title")
        self.app_version_name: Any = client.get("app_version_name")
        self.app_version_code: Any = client.get("app_version_code")
        self.app_package_name: Any = client.get("app_package_name")

    def __repr__(self) -> str:
        return (f"Client([installation_id={self.installation_id},app_title={self.app_title},"
                f"app_version_name={self.app_version_name},app_version_code={self.app_version_code},"
                f"app_package_name={self.app_package_name}])")


class ClientContext:
    """``context.client_context``: ``client`` (a :class:`Client` or None), ``custom``, ``env``."""

    __slots__ = ("client", "custom", "env")

    def __init__(self, context: JsonDict) -> None:
        client = context.get("client")
        self.client: Client | None = Client(client) if isinstance(client, dict) else None
        self.custom: Any = context.get("custom")
        self.env: Any = context.get("env")

    def __repr__(self) -> str:
        return f"ClientContext([custom={self.custom},env={self.env},client={self.client}])"


class _FunctionInfo:
    """The per-environment context fields, read from the environment once in main()."""

    __slots__ = ("function_name", "function_version", "log_group_name", "log_stream_name", "memory")

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.function_name = environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.log_group_name = environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.memory = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")


class LambdaContext:
    """The ``context`` argument, with every field and method of awslambdaric's LambdaContext.

    ``memory_limit_in_mb`` is the *string* from ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``, as on AWS
    (awslambdaric reads the variable without converting it). Instances keep a ``__dict__`` because
    user code and libraries attach attributes to the context.
    """

    def __init__(self, info: _FunctionInfo, request_id: str, deadline_ms: int,
                 invoked_function_arn: str | None, client_context: JsonDict | None,
                 cognito_identity: JsonDict | None, tenant_id: str | None) -> None:
        self.aws_request_id = request_id
        self.log_group_name = info.log_group_name
        self.log_stream_name = info.log_stream_name
        self.function_name = info.function_name
        self.memory_limit_in_mb = info.memory
        self.function_version = info.function_version
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id
        # awslambdaric pops "w3c" out of the client context and serves it only through w3c().
        self._w3c_fields = _extract_w3c(client_context)
        self.client_context = ClientContext(client_context) if client_context is not None else None
        self.identity = CognitoIdentity(cognito_identity)
        self._epoch_deadline_time_in_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the deadline the platform sent (wall clock), never below 0."""
        remaining = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def w3c(self) -> dict[str, str]:
        """The W3C trace context (traceparent, tracestate, baggage) the invoker passed, if any."""
        return dict(self._w3c_fields)

    def log(self, msg: object) -> None:
        """Write ``str(msg)`` to the function's log as is (no newline added, as on AWS)."""
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
                f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
                f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
                f"invoked_function_arn={self.invoked_function_arn},client_context={self.client_context},"
                f"identity={self.identity},tenant_id={self.tenant_id}])")


def _extract_w3c(client_context: JsonDict | None) -> dict[str, str]:
    raw = client_context.pop("w3c", None) if client_context is not None else None
    if not isinstance(raw, dict):
        return {}
    return {key: value for key in ("traceparent", "tracestate", "baggage")
            if isinstance(value := raw.get(key), str)}


def _parse_json_header(value: str | None, name: str) -> JsonDict | None:
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except Exception as error:
        raise _Fault(LAMBDA_CONTEXT_UNMARSHAL_ERROR, f"Unable to parse {name} JSON: {error}") from None
    if parsed is None:
        return None
    if not isinstance(parsed, dict):
        raise _Fault(LAMBDA_CONTEXT_UNMARSHAL_ERROR, f"Unable to parse {name} JSON: not a JSON object")
    return parsed


# --- JSON in and out -----------------------------------------------------------------------------


class _Codec:
    """Event decoding and result encoding with awslambdaric's rules (it uses simplejson).

    * An event is JSON-decoded only when the Content-Type is exactly ``application/json``;
      otherwise the handler gets the raw bytes (awslambdaric's LambdaMarshaller).
    * A ``bytes`` result is posted as is with Content-Type ``application/unknown``.
    * ``Decimal`` values are written as raw JSON numbers (simplejson's RawJSON), NaN as ``NaN``.
    * ``ensure_ascii`` is off only for the python3.12+ ``AWS_EXECUTION_ENV`` values, as awslambdaric.
    """

    def __init__(self, ensure_ascii: bool) -> None:
        self._decimals: list[str] = []
        self._encoder = json.JSONEncoder(ensure_ascii=ensure_ascii, allow_nan=True, default=self._default)

    def _default(self, obj: object) -> object:
        # Only a loaded decimal module can have made a Decimal; don't import it on the hot path.
        decimal = sys.modules.get("decimal")
        if decimal is not None and isinstance(obj, decimal.Decimal):
            if obj.is_nan():
                return float("nan")
            self._decimals.append(str(obj))
            return f"\x00lamina.decimal.{len(self._decimals) - 1}\x00"
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")

    def encode(self, obj: object) -> str:
        try:
            text = self._encoder.encode(obj)
            for index, number in enumerate(self._decimals):
                text = text.replace(f'"\\u0000lamina.decimal.{index}\\u0000"', number, 1)
            return text
        finally:
            self._decimals.clear()

    def decode_event(self, body: bytes, content_type: str | None) -> Any:
        if content_type != "application/json":
            return body
        try:
            return json.loads(body)
        except Exception as error:
            raise _Fault(UNMARSHAL_ERROR, f"Unable to unmarshal input: {error}") from None

    def encode_result(self, result: object) -> tuple[bytes, str]:
        if isinstance(result, bytes):
            return result, "application/unknown"
        try:
            return self.encode(result).encode("utf-8"), "application/json"
        except Exception as error:
            raise _Fault(MARSHAL_ERROR, f"Unable to marshal response: {error}") from None


def _ensure_ascii(execution_env: str) -> bool:
    prefix = "AWS_Lambda_python3."
    if execution_env.startswith(prefix) and execution_env[len(prefix):].isdigit():
        return int(execution_env[len(prefix):]) < 12
    return True


# --- error records -------------------------------------------------------------------------------


def _error_body(message: str, error_type: str, trace: list[str] | None, request_id: str) -> JsonDict:
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id,
            "stackTrace": trace if trace else []}


def _user_frames(tb: Any) -> list[tuple[str, int, str, str | None]]:
    """The traceback without the leading frames of this file, as awslambdaric trims its bootstrap.

    Tuples, not FrameSummary objects, so that format_list prints no ``^^^`` column markers.
    """
    own_file = _user_frames.__code__.co_filename
    frames = [(f.filename, f.lineno or 0, f.name, f.line) for f in traceback.extract_tb(tb)]
    for index, frame in enumerate(frames):
        if frame[0] != own_file:
            return frames[index:]
    return frames


def _exception_body(error: BaseException, request_id: str) -> tuple[JsonDict, JsonDict]:
    """The error body and the X-Ray cause for an exception raised by user code."""
    frames = _user_frames(error.__traceback__)
    error_type, message = type(error).__name__, _safe_str(error)
    xray = {"working_directory": os.getcwd(),
            "exceptions": [{"message": message, "type": error_type,
                            "stack": [{"label": name, "path": path, "line": line}
                                      for path, line, name, _ in frames]}],
            "paths": list(dict.fromkeys(path for path, _, _, _ in frames))}
    return _error_body(message, error_type, traceback.format_list(frames), request_id), xray


def _fault_body(fault: _Fault, request_id: str) -> tuple[JsonDict, JsonDict]:
    xray = {"working_directory": os.getcwd(),
            "exceptions": [{"message": fault.message, "type": "LambdaValidationError", "stack": []}],
            "paths": []}
    return _error_body(fault.message, fault.error_type, fault.trace, request_id), xray


def _safe_str(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:
        return f"<unprintable {type(error).__name__} object>"


def _text_error_record(body: JsonDict) -> str:
    """awslambdaric's Text-format error record: one line, ``\\r`` between its logical lines.

    ``[ERROR] ValueError: boom\\rTraceback (most recent call last):\\r  File ...\\n`` with each
    trace line's leading spaces turned into NO-BREAK SPACEs, so a line-oriented log reader keeps the
    whole record as one entry.
    """
    head = "[ERROR]"
    if body["errorType"]:
        head += " " + body["errorType"]
    if body["errorMessage"]:
        head += (":" if body["errorType"] else "") + " " + body["errorMessage"]
    lines = [head, "Traceback (most recent call last):"]
    for element in body["stackTrace"]:
        if element == "":
            lines.append("")
            continue
        for line in element.splitlines():
            stripped = line.lstrip(" ")
            lines.append(_NBSP * (len(line) - len(stripped)) + stripped)
    return "\r".join(lines) + "\n"


def _json_error_record(body: JsonDict, codec: _Codec) -> str:
    record = {"timestamp": time.strftime(_JSON_DATE_FORMAT, time.gmtime()), "level": "ERROR", **body}
    return codec.encode(record) + "\n"


# --- logging and stdio ---------------------------------------------------------------------------


class _WriteThrough:
    """sys.stdout/sys.stderr replacement that flushes on every write (awslambdaric's Unbuffered).

    Every print reaches the output pipe at once, so a function killed at its timeout loses nothing.
    Any other attribute is the wrapped stream's.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def write(self, text: str) -> int:
        written = self.stream.write(text)
        self.stream.flush()
        return written

    def writelines(self, lines: Any) -> None:
        self.stream.writelines(lines)
        self.stream.flush()

    def flush(self) -> None:
        # Its own method: through __getattr__ every invocation's flush cost a lookup more.
        self.stream.flush()


def _install_write_through() -> None:
    if not isinstance(sys.stdout, _WriteThrough):
        sys.stdout = cast(TextIO, _WriteThrough(sys.stdout))
    if not isinstance(sys.stderr, _WriteThrough):
        sys.stderr = cast(TextIO, _WriteThrough(sys.stderr))


def _flush_stdio() -> None:
    """Push everything the invocation wrote into the pipe before its result is posted.

    Runs once per invocation: a plain try in :func:`_flush`, not contextlib.suppress, takes it from
    1.35 to 0.36 µs (python3.12, both streams).
    """
    _flush(sys.stdout)
    _flush(sys.stderr)


def _flush(stream: TextIO) -> None:
    try:
        stream.flush()
    except Exception:  # user code may have closed or replaced the stream
        return


class _TraceVariable:
    """``_X_AMZN_TRACE_ID``, set for every invocation, without glibc's setenv leak.

    ``os.environ[...] = value`` calls setenv(3), and glibc keeps every string it was ever given
    (so that old getenv() pointers stay valid): a new trace id per invocation grew a warm
    environment by about 170 bytes per invocation (1.2 MB over 7,000; docs/performance.md, run
    LK), without end. Instead the C environment holds one buffer of ours, rewritten in place, and
    ``os.environ``'s own mapping is updated directly, so ``os.environ``, ``os.getenv``, C's getenv()
    and child processes all see the current value. Values too long for the buffer, a machine
    without ctypes, or user code that set or removed the variable itself fall back to
    ``os.environ`` (that one time).
    """

    NAME = "_X_AMZN_TRACE_ID"
    _KEY = NAME.encode()
    _CAPACITY = 1024

    def __init__(self) -> None:
        self._buffer: Any = None
        self._address = 0
        self._putenv: Any = None
        self._memmove: Any = None
        #: What this object last wrote, while the C environment still points at its buffer.
        self._current: bytes | None = None

    def set(self, value: str | None) -> None:
        data = os.environ._data  # type: ignore[attr-defined]  # the mapping behind os.environ
        encoded = value.encode("utf-8", "surrogateescape") if value else None
        # User code that set or removed the variable went through setenv or unsetenv, which took
        # the buffer out of the C environment: os.environ then no longer holds what was written here.
        attached = self._current is not None and data.get(self._KEY) == self._current
        if encoded is not None and len(encoded) < self._CAPACITY and (attached or self._attach()):
            self._memmove(self._address, encoded + b"\0", len(encoded) + 1)
            data[self._KEY] = self._current = encoded
            return
        self._current = None
        if value:
            os.environ[self.NAME] = value
        else:
            os.environ.pop(self.NAME, None)

    def _attach(self) -> bool:
        """Put the buffer into the C environment; False where that cannot be done."""
        try:
            import ctypes
        except ImportError:
            return False
        if self._buffer is None:
            self._buffer = ctypes.create_string_buffer(self._KEY + b"=", len(self._KEY) + 1 + self._CAPACITY)
            self._address = ctypes.addressof(self._buffer) + len(self._KEY) + 1
            putenv = ctypes.CDLL(None).putenv
            putenv.argtypes = [ctypes.c_void_p]
            self._putenv = putenv
            self._memmove = ctypes.memmove
        return bool(self._putenv(ctypes.addressof(self._buffer)) == 0)


_TRACE_ID = _TraceVariable()


class _RequestFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _request_id
        record.tenant_id = _tenant_id
        return True


class _StdoutHandler(logging.Handler):
    """Writes each formatted record to the *current* sys.stdout in one write."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record))
        except Exception:
            self.handleError(record)


# LogRecord attributes that are not user ``extra`` fields (awslambdaric's _RESERVED_FIELDS).
_RESERVED_FIELDS = frozenset((
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info",
    "exc_text", "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread",
    "threadName", "processName", "process", "aws_request_id", "tenant_id", "_frame_type",
))


class _JsonFormatter(logging.Formatter):
    """AWS's JSON application log record (awslambdaric's JsonFormatter).

    ``{"timestamp", "level", "message", "logger", "requestId"}`` plus ``stackTrace``, ``errorType``,
    ``errorMessage`` and ``location`` when the record has exc_info, ``tenantId`` when set, and the
    record's ``extra`` fields; None values are left out. Levels are rounded down to a multiple of 10.
    """

    def __init__(self) -> None:
        super().__init__(datefmt=_JSON_DATE_FORMAT)
        # Records never fail on an odd extra value: default=str (as awslambdaric).
        self._encode = json.JSONEncoder(ensure_ascii=False, default=str).encode

    def format(self, record: logging.LogRecord) -> str:
        record.levelno = min(50, max(0, record.levelno)) // 10 * 10
        record.levelname = logging.getLevelName(record.levelno)
        exc = record.exc_info if record.exc_info and record.exc_info[0] is not None else None
        message = record.msg if isinstance(record.msg, dict) and not record.args else record.getMessage()
        result: JsonDict = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "message": message,
            "logger": record.name,
            "stackTrace": traceback.format_tb(exc[2]) if exc else None,
            "errorType": exc[0].__name__ if exc and exc[0] else None,
            "errorMessage": str(exc[1]) if exc else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": f"{record.pathname}:{record.funcName}:{record.lineno}" if exc else None,
        }
        tenant_id = getattr(record, "tenant_id", None)
        if tenant_id is not None:
            result["tenantId"] = tenant_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED_FIELDS and key not in result:
                result[key] = value
        return self._encode({k: v for k, v in result.items() if v is not None}) + "\n"


def _log_level(value: str | None) -> int | None:
    """AWS_LAMBDA_LOG_LEVEL as a logging level; TRACE is DEBUG (Python has none). None if unset/unknown."""
    name = (value or "").upper()
    name = "DEBUG" if name == "TRACE" else name
    level = logging.getLevelName(name) if name else None
    return level if isinstance(level, int) else None


def _setup_logging(json_format: bool, level: int | None) -> None:
    """Configure the root logger as awslambdaric does; run once per process, never per invoke.

    Handlers a zygote may have installed are removed so nothing of its own reaches function output.
    Without AWS_LAMBDA_LOG_LEVEL the root level is Python's default, WARNING: awslambdaric sets a
    level only when the variable is given, so ``logger.info`` is silent by default on AWS too.
    """
    logging.Formatter.converter = time.gmtime  # awslambdaric makes every formatter UTC
    handler = _StdoutHandler()
    handler.setFormatter(_JsonFormatter() if json_format
                         else logging.Formatter(_TEXT_LOG_FORMAT, _TEXT_DATE_FORMAT))
    handler.addFilter(_RequestFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if level is not None else logging.WARNING)


# --- the Runtime API client ----------------------------------------------------------------------


class RuntimeApiClient:
    """A minimal HTTP/1.1 client for the Runtime API on one persistent, TCP_NODELAY connection.

    Why not http.client: importing it costs ~40 ms (it pulls in ssl and email) on every cold start,
    it sends headers and body in two writes, and it parses headers with the email package. Here each
    request is one ``sendall`` and each response one buffered read of status, headers and a
    Content-Length or chunked body. ``GET next`` has no timeout: it is a long poll.

    A request on a connection that already served one is retried once on a fresh connection if the
    server had closed it (a stale keep-alive). ``connections`` counts connects, for tests.
    """

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise RuntimeApiError(f"AWS_LAMBDA_RUNTIME_API is not host:port: {address!r}")
        self._endpoint = (host.strip("[]"), int(port))
        version = ".".join(map(str, sys.version_info[:3]))
        self._common = f"Host: {address}\r\nUser-Agent: lamina-python/{version}\r\n".encode()
        self._next_request = (f"GET {_API_PREFIX}/invocation/next HTTP/1.1\r\n".encode()
                              + self._common + b"\r\n")
        self._sock: socket.socket | None = None
        self._rfile: Any = None
        self._reused = False
        #: A ``GET next`` already went out behind the last POST (HTTP/1.1 pipelining).
        self._next_sent = False
        self.connections = 0

    def next_invocation(self) -> tuple[dict[str, str], bytes]:
        """Block until the platform hands out an invocation; returns (lower-cased headers, body)."""
        if self._next_sent:
            self._next_sent = False
            status, headers, body = self._exchange(b"", send=False)
        else:
            status, headers, body = self._exchange(self._next_request)
        if status != 200:
            raise RuntimeApiError(f"GET invocation/next answered {status}: {body[:200]!r}", status)
        return headers, body

    def post_response(self, request_id: str, payload: bytes, content_type: str) -> int:
        """POST the handler's result and ask for the next invocation in the same write.

        Returns the POST's status (202 accepted; 4xx rejected, not fatal). The pipelined ``GET next``
        saves one process wake-up per invocation on each side, the dominant cost on small VMs.
        """
        return self._post(f"/invocation/{request_id}/response", payload,
                          f"Content-Type: {content_type}\r\n", pipeline_next=True)

    def post_error(self, request_id: str, body: bytes, error_type: str, xray_cause: str) -> int:
        """POST an invocation error; returns the status as :meth:`post_response` does."""
        extra = f"Content-Type: application/json\r\nLambda-Runtime-Function-Error-Type: {_header(error_type)}\r\n"
        if xray_cause and len(xray_cause) < _XRAY_CAUSE_LIMIT:
            extra += f"Lambda-Runtime-Function-XRay-Error-Cause: {xray_cause}\r\n"
        return self._post(f"/invocation/{request_id}/error", body, extra, pipeline_next=True)

    def post_init_error(self, body: bytes, error_type: str) -> int:
        """POST an init error with its type in Lambda-Runtime-Function-Error-Type (as awslambdaric)."""
        extra = f"Content-Type: application/json\r\nLambda-Runtime-Function-Error-Type: {_header(error_type)}\r\n"
        return self._post("/init/error", body, extra)

    def close(self) -> None:
        if self._rfile is not None:
            self._rfile.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._rfile = None

    def _post(self, path: str, body: bytes, headers: str, pipeline_next: bool = False) -> int:
        head = (f"POST {_API_PREFIX}{path} HTTP/1.1\r\n{headers}Content-Length: {len(body)}\r\n").encode()
        request = head + self._common + b"\r\n" + body
        status, _, answer = self._exchange(request + self._next_request if pipeline_next else request)
        # The GET is outstanding only if the connection it went out on is still open.
        self._next_sent = pipeline_next and self._sock is not None
        if status >= 500:
            raise RuntimeApiError(f"POST {path} answered {status}: {answer[:200]!r}", status)
        return status

    def _connect(self) -> None:
        try:
            sock = self._open_socket()
        except OSError as error:
            raise RuntimeApiError(f"cannot connect to the Runtime API at {self._endpoint}: {error}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock, self._rfile, self._reused = sock, sock.makefile("rb"), False
        self.connections += 1

    def _open_socket(self) -> socket.socket:
        """Connect without ``getaddrinfo`` when the address is a literal IP: resolving imports
        ``encodings.idna`` and ``unicodedata``, ~2 ms of every cold start."""
        host, port = self._endpoint
        for family in (socket.AF_INET, socket.AF_INET6):
            try:
                socket.inet_pton(family, host)
            except OSError:
                continue
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.connect((host, port))
            except OSError:
                sock.close()
                raise
            return sock
        return socket.create_connection(self._endpoint, timeout=None)

    def _exchange(self, request: bytes, send: bool = True) -> tuple[int, dict[str, str], bytes]:
        for attempt in (1, 2):
            if self._sock is None:
                self._connect()
            assert self._sock is not None
            reused = self._reused and send
            try:
                if send:
                    self._sock.sendall(request, _SEND_FLAGS)
                status_line = self._rfile.readline(65537)
                if not status_line:
                    raise ConnectionResetError("connection closed by the Runtime API")
                status, headers, body, keep_alive = self._read_response(status_line)
            except OSError as error:
                self.close()
                if reused and attempt == 1:
                    continue
                raise RuntimeApiError(f"Runtime API connection failed: {error}") from None
            except ValueError as error:
                self.close()
                raise RuntimeApiError(f"malformed Runtime API response: {error}") from None
            if keep_alive:
                self._reused = True
            else:
                self.close()
            return status, headers, body
        raise AssertionError("unreachable")

    def _read_response(self, status_line: bytes) -> tuple[int, dict[str, str], bytes, bool]:
        rfile = self._rfile
        while True:
            version, code = status_line.split(None, 2)[:2]
            status = int(code)
            headers: dict[str, str] = {}
            while True:
                line = rfile.readline(65537)
                if line in (b"\r\n", b"\n"):
                    break
                if not line:
                    raise ConnectionResetError("connection closed inside response headers")
                name, _, value = line.decode("utf-8", "replace").partition(":")
                headers[name.strip().lower()] = value.strip()
            if status >= 200:
                break
            status_line = rfile.readline(65537)  # a 1xx interim answer: the real one follows
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" and (version != b"HTTP/1.0" or connection == "keep-alive")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        elif "content-length" in headers:
            length = int(headers["content-length"])
            body = rfile.read(length)
            if len(body) != length:
                raise ConnectionResetError("connection closed inside response body")
        elif status in (204, 304):
            body = b""
        else:  # delimited by the end of the connection
            body, keep_alive = rfile.read(), False
        return status, headers, body, keep_alive

    def _read_chunked(self) -> bytes:
        rfile = self._rfile
        parts: list[bytes] = []
        while True:
            size = int(rfile.readline(65537).split(b";", 1)[0].strip() or b"x", 16)
            if size == 0:
                while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            chunk = rfile.read(size)
            if len(chunk) != size:
                raise ConnectionResetError("connection closed inside a chunk")
            parts.append(chunk)
            rfile.readline(65537)


class FramedRuntimeClient:
    """The Runtime API's calls as frames on the socket pair the zygote handed over (fd in
    ``_LAMINA_RUNTIME_FD``); the format is documented in ``lamina.sandbox.channel``.

    A result and the request for the next invocation go out in one write; a refused result (the
    HTTP API's 4xx) comes back as an ``S`` frame before the next invocation and is reported on
    stderr as the HTTP client's caller reports it.
    """

    _HEAD = struct.Struct("!cII")

    def __init__(self, fd: int, peak_fd: int = -1) -> None:
        self._sock = socket.socket(fileno=fd)
        self._rfile = self._sock.makefile("rb")
        self._ready = self._frame(b"N", [])
        self._started = False
        self._peak_fd = peak_fd
        self.connections = 1

    def next_invocation(self) -> tuple[dict[str, str], bytes]:
        if not self._started:
            self._started = True
            self._send(self._ready)
        while True:
            kind, fields, body = self._read()
            if kind == b"I":
                return {fields[i]: fields[i + 1] for i in range(0, len(fields) - 1, 2)}, body
            if kind == b"S" and fields:
                sys.stderr.write(f"lamina bootstrap: the Runtime API answered {fields[0]} to the result of "
                                 f"request {_request_id}: {fields[1] if len(fields) > 1 else ''}\n")
                continue
            raise RuntimeApiError(f"unexpected frame {kind!r} from the platform")

    def post_response(self, request_id: str, payload: bytes, content_type: str) -> int:
        self._send(self._frame(b"R", [request_id, content_type, self._peak()], payload) + self._ready)
        return 202

    def post_error(self, request_id: str, body: bytes, error_type: str, xray_cause: str) -> int:
        cause = xray_cause if len(xray_cause) < _XRAY_CAUSE_LIMIT else ""
        self._send(self._frame(b"E", [request_id, error_type, cause, self._peak()], body) + self._ready)
        return 202

    def _peak(self) -> str:
        """The environment's peak memory in bytes, as the platform would measure it: the larger of
        this process's peak resident set and its cgroup's high-water mark (every process of the
        environment). Measured here, on the environment's CPU, rather than by the platform's event
        loop once per invocation."""
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return str(max(peak, _read_number(self._peak_fd)) if self._peak_fd >= 0 else peak)

    def post_init_error(self, body: bytes, error_type: str) -> int:
        self._send(self._frame(b"X", [error_type], body))
        return 202

    def close(self) -> None:
        self._rfile.close()
        self._sock.close()

    def _frame(self, kind: bytes, fields: list[str], body: bytes = b"") -> bytes:
        header = "\0".join(field.replace("\0", " ") for field in fields).encode("utf-8", "replace")
        return self._HEAD.pack(kind, len(header), len(body)) + header + body

    def _send(self, data: bytes) -> None:
        try:
            self._sock.sendall(data, _SEND_FLAGS)
        except OSError as error:
            raise RuntimeApiError(f"Runtime API channel failed: {error}") from None

    def _read(self) -> tuple[bytes, list[str], bytes]:
        rfile = self._rfile
        try:
            head = rfile.read(self._HEAD.size)
            if len(head) < self._HEAD.size:
                raise RuntimeApiError("the platform closed the Runtime API channel")
            kind, header_length, body_length = self._HEAD.unpack(head)
            header = rfile.read(header_length) if header_length else b""
            body = rfile.read(body_length) if body_length else b""
        except OSError as error:
            raise RuntimeApiError(f"Runtime API channel failed: {error}") from None
        if len(header) < header_length or len(body) < body_length:
            raise RuntimeApiError("the platform closed the Runtime API channel")
        return kind, header.decode("utf-8", "replace").split("\0") if header else [], body


def _header(value: str) -> str:
    """A header value that cannot break the request (an exception class name can be anything)."""
    return value.replace("\r", " ").replace("\n", " ")


# --- loading the handler -------------------------------------------------------------------------


def _prepare_sys_path(task_root: str | None) -> None:
    """Put the task root first, then the layer paths AWS adds for Python when they exist.

    AWS's order: /var/task, /opt/python/lib/pythonX.Y/site-packages, /opt/python, then the runtime's
    own paths (Lambda developer guide, "Python layers" and "module search path").
    """
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    # Without a mount namespace Lamina's layers are not at /opt; the zygote says where they are.
    opt = os.environ.get("_LAMINA_OPT", "/opt")
    front = [task_root] if task_root else []
    front += [path for path in (f"{opt}/python/lib/{version}/site-packages", f"{opt}/python")
              if os.path.isdir(path)]
    sys.path[:] = front + [path for path in sys.path if path not in front]


def load_handler(handler: str) -> Handler:
    """Import the handler named ``module.function`` (module may be ``pkg.mod`` or ``dir/mod``).

    Raises :class:`_Fault` with awslambdaric's errorType and wording for a malformed name, a
    built-in module name, an ImportError, a SyntaxError or a missing attribute. Any other exception
    raised while importing user code propagates; the caller reports it under its own class name.
    """
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as error:
        raise _Fault(MALFORMED_HANDLER_NAME, f"Bad handler '{handler}': {error}") from None
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise _Fault(BUILT_IN_MODULE_CONFLICT,
                     f"Cannot use built-in module {module_name} as a handler module")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as error:
        raise _Fault(IMPORT_MODULE_ERROR, f"Unable to import module '{module_name}': {error}") from None
    except SyntaxError as error:
        # awslambdaric's wording, capital "Line" and the raw source line included.
        trace = [f'  File "{error.filename}" Line {error.lineno}\n    {error.text}']
        raise _Fault(USER_CODE_SYNTAX_ERROR, f"Syntax error in module '{module_name}': {error}",
                     trace) from None
    try:
        return cast(Handler, getattr(module, function_name))
    except AttributeError:
        raise _Fault(HANDLER_NOT_FOUND,
                     f"Handler '{function_name}' missing on module '{module_name}'") from None


# --- the runtime loop ----------------------------------------------------------------------------


class _Runtime:
    """State of one running environment: built once by main(), then used by every invocation."""

    def __init__(self, client: RuntimeApiClient | FramedRuntimeClient, codec: _Codec, json_logs: bool,
                 info: _FunctionInfo) -> None:
        self.client = client
        self.codec = codec
        self.json_logs = json_logs
        self.info = info

    def log_error(self, body: JsonDict) -> None:
        """Write the error record in one write, so it is one log entry."""
        record = _json_error_record(body, self.codec) if self.json_logs else _text_error_record(body)
        # If the function closed its output, the error still goes back through the Runtime API.
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.write(record)

    def init(self, handler_name: str) -> Handler:
        """Load the handler, or report the init error and exit with EXIT_INIT_ERROR."""
        try:
            return load_handler(handler_name)
        except _Fault as fault:
            body = _error_body(fault.message, fault.error_type, fault.trace, "")
        except Exception as error:
            body = _exception_body(error, "")[0]
        self.log_error(body)
        _flush_stdio()
        self.client.post_init_error(_utf8(self.codec.encode(body)), body["errorType"])
        sys.exit(EXIT_INIT_ERROR)

    def invoke(self, handler: Handler, headers: dict[str, str], event_body: bytes) -> None:
        """Run one invocation and post its result or error; the output is flushed before the POST."""
        global _request_id, _tenant_id
        request_id = _request_id = headers.get("lambda-runtime-aws-request-id", "")
        tenant_id = _tenant_id = headers.get("lambda-runtime-aws-tenant-id") or None
        trace_id = headers.get("lambda-runtime-trace-id")
        _TRACE_ID.set(trace_id)
        try:
            context = LambdaContext(
                self.info, request_id, _int(headers.get("lambda-runtime-deadline-ms")),
                headers.get("lambda-runtime-invoked-function-arn"),
                _parse_json_header(headers.get("lambda-runtime-client-context"), "Client Context"),
                _parse_json_header(headers.get("lambda-runtime-cognito-identity"), "Cognito Identity"),
                tenant_id)
            event = self.codec.decode_event(event_body, headers.get("content-type"))
            payload, content_type = self.codec.encode_result(handler(event, context))
        except _Fault as fault:
            body, xray = _fault_body(fault, request_id)
        except Exception as error:
            body, xray = _exception_body(error, request_id)
        else:
            _flush_stdio()
            self._check(self.client.post_response(request_id, payload, content_type), "response")
            return
        self.log_error(body)
        _flush_stdio()
        status = self.client.post_error(request_id, _utf8(self.codec.encode(body)), body["errorType"],
                                        json.dumps(xray))
        self._check(status, "error")

    @staticmethod
    def _check(status: int, what: str) -> None:
        if status >= 300:  # 4xx: the platform rejected it and already settled the invocation
            sys.stderr.write(f"lamina bootstrap: the Runtime API answered {status} to the {what} of "
                             f"request {_request_id}\n")


def _utf8(text: str) -> bytes:
    # An exception message may hold lone surrogates; an error report must still go out.
    return text.encode("utf-8", "replace")


def _read_number(fd: int) -> int:
    """The decimal number a (cgroup) file holds, 0 if it cannot be read."""
    try:
        return int(os.pread(fd, 32, 0))
    except (OSError, ValueError):
        return 0


def _fd(value: str) -> int:
    return int(value) if value.isdigit() else -1


def _int(value: str | None) -> int:
    try:
        return int(value) if value else 0
    except ValueError:
        return 0


def main() -> NoReturn:
    """Run this process as a Lambda execution environment's runtime; never returns.

    See the module docstring for what it reads and how it exits. Reads no ``sys.argv``: a zygote's
    child inherits the zygote's.
    """
    environ = os.environ
    address = environ.get("AWS_LAMBDA_RUNTIME_API", "")
    _install_write_through()
    json_logs = environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"
    _setup_logging(json_logs, _log_level(environ.get("AWS_LAMBDA_LOG_LEVEL")))
    channel = _fd(environ.pop("_LAMINA_RUNTIME_FD", ""))
    try:
        client: RuntimeApiClient | FramedRuntimeClient = (
            FramedRuntimeClient(channel, _fd(environ.pop("_LAMINA_PEAK_FD", "")))
            if channel >= 0 else RuntimeApiClient(address))
        runtime = _Runtime(client, _Codec(_ensure_ascii(environ.get("AWS_EXECUTION_ENV", ""))),
                           json_logs, _FunctionInfo(environ))
        _prepare_sys_path(environ.get("LAMBDA_TASK_ROOT"))
        handler = runtime.init(environ.get("_HANDLER", ""))
        invoke, next_invocation = runtime.invoke, client.next_invocation
        while True:
            headers, body = next_invocation()
            invoke(handler, headers, body)
    except RuntimeApiError as error:
        sys.stderr.write(f"lamina bootstrap: {error}\n")
        sys.exit(EXIT_RUNTIME_API_ERROR)


if __name__ == "__main__":
    main()
