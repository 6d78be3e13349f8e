"""The Python bootstrap as a real process against a stub Runtime API.

Every test writes a handler into a temporary task root, starts ``python bootstrap.py`` (or a forked
child of a zygote-like driver) and checks what reaches the Runtime API and the output pipe, in the
exact formats awslambdaric produces.
"""

from __future__ import annotations

import calendar
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from runtime_api_stub import RuntimeApiStub

BOOTSTRAP = Path(__file__).parents[3] / "src" / "lamina" / "sandbox" / "runtimes" / "python" / "bootstrap.py"
NBSP = "\u00a0"
# The bootstrap runs on the function's interpreter; point this at another one (3.9+) to check it.
PYTHON = os.environ.get("LAMINA_BOOTSTRAP_PYTHON", sys.executable)

Start = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def api() -> Iterator[RuntimeApiStub]:
    stub = RuntimeApiStub()
    yield stub
    stub.stop()


@pytest.fixture
def task_root(tmp_path: Path) -> Path:
    root = tmp_path / "task"
    root.mkdir()
    return root


def write(root: Path, source: str, name: str = "app.py") -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))


def function_env(api: RuntimeApiStub, task_root: Path, handler: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_LAMBDA_RUNTIME_API": api.address,
            "_HANDLER": handler, "LAMBDA_TASK_ROOT": str(task_root), "AWS_LAMBDA_FUNCTION_NAME": "fn",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]abc", "TZ": ":UTC",
            "PYTHONDONTWRITEBYTECODE": "1"}


@pytest.fixture
def start(api: RuntimeApiStub, task_root: Path) -> Iterator[Start]:
    processes: list[subprocess.Popen[bytes]] = []

    def _start(handler: str = "app.handler", **env: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([PYTHON, str(BOOTSTRAP)], cwd=task_root,
                                   env={**function_env(api, task_root, handler), **env},
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        api.attach(process)
        processes.append(process)
        return process

    yield _start
    for process in processes:
        process.kill()
        process.wait()
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        process.stderr.close()


def error_records(output: bytes) -> list[str]:
    return [line for line in output.decode().split("\n") if line.startswith("[ERROR]")]


# --- invocations ---------------------------------------------------------------------------------

CONTEXT_HANDLER = """
    import os, sys

    def handler(event, context):
        cc, ident = context.client_context, context.identity
        return {
            "event": event, "request_id": context.aws_request_id, "arn": context.invoked_function_arn,
            "function_name": context.function_name, "version": context.function_version,
            "memory": context.memory_limit_in_mb, "group": context.log_group_name,
            "stream": context.log_stream_name, "tenant": context.tenant_id,
            "identity": [ident.cognito_identity_id, ident.cognito_identity_pool_id],
            "client_context": cc and [cc.custom, cc.env, cc.client and cc.client.installation_id],
            "w3c": context.w3c(), "remaining": context.get_remaining_time_in_millis(),
            "trace": os.environ.get("_X_AMZN_TRACE_ID"), "path0": sys.path[0],
        }
"""


def test_success_posts_the_json_result_and_the_context_carries_every_field(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, CONTEXT_HANDLER)
    start()
    client_context = {"custom": {"k": "v"}, "env": {"platform": "x"}, "client": {"installation_id": "i-1"},
                      "w3c": {"traceparent": "00-abc-01", "baggage": 7}}
    post = api.invoke({"a": [1, 2]}, "req-42", Lambda_Runtime_Client_Context=json.dumps(client_context),
                      Lambda_Runtime_Cognito_Identity='{"cognitoIdentityId": "id-1", '
                                                      '"cognitoIdentityPoolId": "pool-1"}',
                      Lambda_Runtime_Aws_Tenant_Id="tenant-a")

    assert post.path == "/2018-06-01/runtime/invocation/req-42/response"
    assert post.headers["content-type"] == "application/json"
    result = post.json
    assert result.pop("remaining") in range(29_000, 30_001)
    assert result == {
        "event": {"a": [1, 2]}, "request_id": "req-42",
        "arn": "arn:aws:lambda:us-east-1:123456789012:function:fn", "function_name": "fn",
        "version": "$LATEST", "memory": "256",  # a string, as awslambdaric reads it
        "group": "/aws/lambda/fn", "stream": "2024/01/01/[$LATEST]abc", "tenant": "tenant-a",
        "identity": ["id-1", "pool-1"], "client_context": [{"k": "v"}, {"platform": "x"}, "i-1"],
        "w3c": {"traceparent": "00-abc-01"}, "trace": None, "path0": str(task_root)}
    # awslambdaric's encoder spacing (simplejson defaults), byte for byte.
    assert post.body.startswith(b'{"event": {"a": [1, 2]}, "request_id": "req-42"')


def test_two_invocations_share_module_state_and_one_keep_alive_connection(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        import os
        calls = []

        def handler(event, context):
            calls.append(event)
            return {"calls": calls, "pid": os.getpid(), "trace": os.environ.get("_X_AMZN_TRACE_ID")}
    """)
    start()
    first = api.invoke("one", "r1", Lambda_Runtime_Trace_Id="Root=1-5e1b4151-5ac6c58f;Sampled=1").json
    second = api.invoke("two", "r2").json

    assert first["calls"] == ["one"] and second["calls"] == ["one", "two"]
    assert first["pid"] == second["pid"]
    assert first["trace"] == "Root=1-5e1b4151-5ac6c58f;Sampled=1"
    assert second["trace"] is None  # removed when the invoke carries no trace header
    assert api.connections == 1


def test_remaining_time_counts_down_to_the_deadline(api: RuntimeApiStub, task_root: Path,
                                                    start: Start) -> None:
    write(task_root, """
        import time

        def handler(event, context):
            first = context.get_remaining_time_in_millis()
            time.sleep(0.05)
            return [first, context.get_remaining_time_in_millis()]
    """)
    start()
    deadline = int(time.time() * 1000) + 2_000
    first, second = api.invoke({}, Lambda_Runtime_Deadline_Ms=str(deadline)).json
    assert 1_000 < first <= 2_000
    assert 40 <= first - second < 1_000
    past = api.invoke({}, "r2", Lambda_Runtime_Deadline_Ms=str(int(time.time() * 1000) - 5)).json
    assert past == [0, 0]


def test_bytes_and_decimal_results_are_marshalled_like_awslambdaric(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        from decimal import Decimal

        def handler(event, context):
            if event == "bytes":
                return b"\\x00raw"
            return {"price": Decimal("10.50"), "big": Decimal("1E+2"), "nan": Decimal("NaN"),
                    "text": "caf\\u00e9", "none": None}
    """)
    start(AWS_EXECUTION_ENV="AWS_Lambda_python3.12")
    raw = api.invoke("bytes")
    assert raw.body == b"\x00raw" and raw.headers["content-type"] == "application/unknown"
    decimals = api.invoke("decimals", "r2")
    # python3.12+ runtimes write non-ASCII as is (awslambdaric's ensure_ascii=False).
    assert decimals.body == '{"price": 10.50, "big": 1E+2, "nan": NaN, "text": "café", "none": null}'.encode()


def test_print_output_is_in_the_pipe_before_the_result_is_posted(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        def handler(event, context):
            print("hello from", event)
            context.log("context.log line\\n")
            return "done"
    """)
    start()
    post = api.invoke("req-1-event")
    assert post.json == "done"
    # The stub read the pipe when the POST arrived, before answering it.
    assert b"hello from req-1-event\n" in post.output
    assert b"context.log line\n" in post.output


def test_text_log_records_carry_the_request_id_and_default_to_warning(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        import logging
        logger = logging.getLogger("app")

        def handler(event, context):
            logger.info("hidden: the root level defaults to WARNING")
            logger.warning("careful %s", event)
            return None
    """)
    start()
    post = api.invoke("x", "req-7")
    assert post.body == b"null"
    lines = [line for line in post.output.decode().split("\n") if line]
    assert len(lines) == 1
    level, timestamp, request_id, message = lines[0].split("\t")
    assert (level, request_id, message) == ("[WARNING]", "req-7", "careful x")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", timestamp)
    logged_at = calendar.timegm(time.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S"))
    assert abs(logged_at - time.time()) < 60  # UTC, whatever the host's zone


def test_json_log_format_and_level(api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        import logging
        logger = logging.getLogger("app")

        def handler(event, context):
            logger.debug("not shown at INFO")
            logger.info("hello %s", event, extra={"order": 7})
            try:
                1 / 0
            except ZeroDivisionError:
                logger.exception("failed")
            raise KeyError("k")
    """)
    start(AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="INFO")
    post = api.invoke("x", "req-9")
    records = [json.loads(line) for line in post.output.decode().splitlines()]
    assert [record["level"] for record in records] == ["INFO", "ERROR", "ERROR"]
    info, logged, unhandled = records
    assert info.keys() == {"timestamp", "level", "message", "logger", "requestId", "order"}
    assert (info["message"], info["logger"], info["requestId"], info["order"]) == ("hello x", "app", "req-9", 7)
    assert time.strptime(info["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    assert (logged["errorType"], logged["errorMessage"]) == ("ZeroDivisionError", "division by zero")
    assert logged["location"].endswith("app.py:handler:11") and logged["stackTrace"]
    assert list(unhandled) == ["timestamp", "level", "errorMessage", "errorType", "requestId", "stackTrace"]
    assert (unhandled["errorType"], unhandled["errorMessage"], unhandled["requestId"]) == ("KeyError", "'k'",
                                                                                          "req-9")


# --- invocation errors ---------------------------------------------------------------------------


def test_handler_exception_is_posted_and_logged_as_one_record(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        def handler(event, context):
            raise ValueError("boom")
    """)
    start()
    post = api.invoke({}, "req-e")
    frame = f'  File "{task_root}/app.py", line 3, in handler\n    raise ValueError("boom")\n'
    assert post.path == "/2018-06-01/runtime/invocation/req-e/error"
    assert post.json == {"errorMessage": "boom", "errorType": "ValueError", "requestId": "req-e",
                         "stackTrace": [frame]}
    assert post.headers["lambda-runtime-function-error-type"] == "ValueError"
    xray = json.loads(post.headers["lambda-runtime-function-xray-error-cause"])
    assert xray["exceptions"][0]["stack"] == [{"label": "handler", "path": f"{task_root}/app.py", "line": 3}]
    assert error_records(post.output) == [
        f"[ERROR] ValueError: boom\rTraceback (most recent call last):\r"
        f'{NBSP * 2}File "{task_root}/app.py", line 3, in handler\r{NBSP * 4}raise ValueError("boom")']
    # The environment survives a handler error.
    assert api.invoke({}, "req-f").path.endswith("/req-f/error")


def test_unserializable_result_is_a_marshal_error(api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        def handler(event, context):
            return {"s": {1, 2}}
    """)
    start()
    post = api.invoke({}, "req-m")
    assert post.json == {"errorMessage": "Unable to marshal response: Object of type set is not JSON serializable",
                         "errorType": "Runtime.MarshalError", "requestId": "req-m", "stackTrace": []}
    assert post.headers["lambda-runtime-function-error-type"] == "Runtime.MarshalError"


def test_empty_event_body_is_an_unmarshal_error_and_other_content_types_pass_bytes(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        def handler(event, context):
            return repr(event)
    """)
    start()
    post = api.invoke(body=b"")
    assert post.json["errorType"] == "Runtime.UnmarshalError"
    assert post.json["errorMessage"] == "Unable to unmarshal input: Expecting value: line 1 column 1 (char 0)"
    assert api.invoke(body=b"plain", Content_Type="text/plain").json == "b'plain'"


def test_a_rejected_post_is_not_fatal_and_a_server_close_is_survived(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        def handler(event, context):
            return event
    """)
    process = start()
    api.post_status, api.close_after_post = 400, True
    assert api.invoke("first", "r1").json == "first"
    api.post_status, api.close_after_post = 202, False
    assert api.invoke("second", "r2", chunked=True).json == "second"  # chunked GET next body
    assert api.connections == 2  # the runtime reconnected after "Connection: close"
    api.stop()
    assert process.wait(timeout=5) == 2  # the Runtime API went away
    assert process.stderr is not None
    stderr = process.stderr.read()
    assert b"the Runtime API answered 400 to the response of request r1" in stderr
    # The GET next pipelined behind the last POST finds the connection closed.
    assert (b"connection closed by the Runtime API" in stderr
            or b"cannot connect to the Runtime API" in stderr)


def test_a_keep_alive_connection_closed_by_the_server_is_replaced_even_with_sigpipe_default(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    # The zygote's children run with SIGPIPE at its default action (terminate).
    write(task_root, """
        import signal
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)

        def handler(event, context):
            return "x" * 4_000_000
    """)
    process = start()
    api.drop_after_next = True
    post = api.invoke({}, "r1")
    assert len(post.json) == 4_000_000
    assert api.connections == 2 and process.poll() is None


def test_a_recursion_error_is_reported_without_an_oversized_xray_header(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        def handler(event, context):
            return handler(event, context)
    """)
    start()
    post = api.invoke({}, "r1")
    assert post.json["errorType"] == "RecursionError"
    # traceback.format_list folds the repeats, as in awslambdaric's body; the X-Ray cause lists all
    # ~1000 frames, too many for a header.
    assert post.json["stackTrace"][-1].startswith("  [Previous line repeated 99")
    assert "lambda-runtime-function-xray-error-cause" not in post.headers


# --- init errors ---------------------------------------------------------------------------------


def init_error(api: RuntimeApiStub, process: subprocess.Popen[bytes]) -> tuple[dict[str, object], str, str]:
    post = api.posts.get(timeout=5)
    assert post.path == "/2018-06-01/runtime/init/error"
    assert process.wait(timeout=5) == 1
    body = post.json
    assert body["requestId"] == ""
    assert post.headers["lambda-runtime-function-error-type"] == body["errorType"]
    records = error_records(api.drain())
    assert len(records) == 1
    return body, records[0], post.output.decode()


def test_missing_module_is_an_import_module_error(api: RuntimeApiStub, start: Start) -> None:
    body, record, _ = init_error(api, start())
    message = "Unable to import module 'app': No module named 'app'"
    assert body == {"errorMessage": message, "errorType": "Runtime.ImportModuleError", "requestId": "",
                    "stackTrace": []}
    assert record == f"[ERROR] Runtime.ImportModuleError: {message}\rTraceback (most recent call last):"


def test_missing_function_is_handler_not_found(api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, "x = 1\n", "pkg/mod.py")
    body, _, _ = init_error(api, start("pkg/mod.nope"))
    assert (body["errorType"], body["errorMessage"]) == ("Runtime.HandlerNotFound",
                                                         "Handler 'nope' missing on module 'pkg/mod'")


def test_syntax_error_names_file_and_line(api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, "def handler(event, context):\n    return 1\nx = = 1\n")
    body, record, _ = init_error(api, start())
    assert body["errorType"] == "Runtime.UserCodeSyntaxError"
    assert body["errorMessage"] == "Syntax error in module 'app': invalid syntax (app.py, line 3)"
    assert body["stackTrace"] == [f'  File "{task_root}/app.py" Line 3\n    x = = 1\n']
    assert record.endswith(f'Traceback (most recent call last):\r{NBSP * 2}File "{task_root}/app.py" Line 3'
                           f"\r{NBSP * 4}x = = 1")


def test_malformed_handler_name(api: RuntimeApiStub, start: Start) -> None:
    body, _, _ = init_error(api, start("handler"))
    assert (body["errorType"], body["errorMessage"]) == (
        "Runtime.MalformedHandlerName", "Bad handler 'handler': not enough values to unpack (expected 2, got 1)")


def test_exception_while_importing_is_reported_under_its_own_class(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        print("module top runs")
        raise RuntimeError("no config")
    """)
    body, record, output_at_post = init_error(api, start())
    assert (body["errorType"], body["errorMessage"]) == ("RuntimeError", "no config")
    assert isinstance(body["stackTrace"], list)
    assert body["stackTrace"][-1] == f'  File "{task_root}/app.py", line 3, in <module>\n' \
                                     '    raise RuntimeError("no config")\n'
    assert "bootstrap.py" not in "".join(body["stackTrace"])
    assert record.startswith("[ERROR] RuntimeError: no config\rTraceback (most recent call last):\r")
    assert "module top runs\n" in output_at_post


# --- zygote mode ---------------------------------------------------------------------------------

ZYGOTE = """
import importlib.util, json, os, sys, threading
spec = importlib.util.spec_from_file_location("lamina_bootstrap", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps({"threads_after_import": threading.active_count()}), flush=True)
pid = os.fork()
if pid == 0:
    os.environ.clear()
    os.environ.update(json.loads(sys.argv[2]))
    os.chdir(sys.argv[3])
    try:
        module.main()
    except SystemExit as stop:
        os._exit(stop.code if isinstance(stop.code, int) else 1)
    os._exit(0)
_, status = os.waitpid(pid, 0)
print(json.dumps({"zygote": os.getpid(), "child_exit": os.waitstatus_to_exitcode(status)}), flush=True)
"""


def test_zygote_imports_once_then_main_runs_in_a_forked_child(
        api: RuntimeApiStub, task_root: Path, tmp_path: Path) -> None:
    write(task_root, """
        import os

        def handler(event, context):
            return {"pid": os.getpid(), "parent": os.getppid(), "event": event,
                    "function": context.function_name, "cwd": os.getcwd()}
    """)
    driver = tmp_path / "zygote.py"
    driver.write_text(ZYGOTE)
    env = function_env(api, task_root, "app.handler")
    # The zygote itself imports the bootstrap with none of the function's variables set.
    zygote_env = {"PATH": env["PATH"], "PYTHONDONTWRITEBYTECODE": "1"}
    with subprocess.Popen([PYTHON, str(driver), str(BOOTSTRAP), json.dumps(env), str(task_root)],
                          env=zygote_env, cwd=tmp_path, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as process:
        api.attach(process)
        first = api.invoke({"n": 1}, "z1").json
        second = api.invoke({"n": 2}, "z2").json
        api.stop()
        assert process.wait(timeout=5) == 0
        lines = [json.loads(line) for line in api.drain().decode().splitlines()]
    assert lines[0] == {"threads_after_import": 1}  # importing started no thread
    assert lines[-1]["child_exit"] == 2  # main() ended with SystemExit(2) when the API went away
    zygote = lines[-1]["zygote"]
    assert first["parent"] == second["parent"] == zygote and first["pid"] == second["pid"] != zygote
    assert (first["event"], second["event"]) == ({"n": 1}, {"n": 2})
    assert first["function"] == "fn" and first["cwd"] == str(task_root)
