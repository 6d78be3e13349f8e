"""The Node.js bootstrap as a real ``node`` process against a stub Runtime API.

Every test writes a handler into a temporary task root, starts ``node bootstrap.js`` and checks
what reaches the Runtime API and the output pipe, in the formats AWS's Node.js runtime
(aws-lambda-nodejs-runtime-interface-client) produces.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from runtime_api_stub import Post, RuntimeApiStub

BOOTSTRAP = Path(__file__).parents[3] / "src" / "lamina" / "sandbox" / "runtimes" / "node" / "bootstrap.js"
# Point this at another node binary to check the bootstrap on it.
NODE = os.environ.get("LAMINA_BOOTSTRAP_NODE") or shutil.which("node")
ARN = "arn:aws:lambda:us-east-1:123456789012:function:fn"
TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"

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


def write(root: Path, source: str, name: str = "index.js") -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))


@pytest.fixture
def start(api: RuntimeApiStub, task_root: Path) -> Iterator[Start]:
    if NODE is None:
        pytest.fail("node is not installed: the Node.js runtime tests run `node bootstrap.js` "
                    "(install nodejs, or set LAMINA_BOOTSTRAP_NODE)")
    processes: list[subprocess.Popen[bytes]] = []

    def _start(handler: str = "index.handler", **env: str) -> subprocess.Popen[bytes]:
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_LAMBDA_RUNTIME_API": api.address,
            "_HANDLER": handler, "LAMBDA_TASK_ROOT": str(task_root), "AWS_LAMBDA_FUNCTION_NAME": "fn",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn", "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]abc",
            "AWS_REGION": "us-east-1", "TZ": ":UTC", **env}
        assert NODE is not None
        process = subprocess.Popen([NODE, str(BOOTSTRAP)], cwd=task_root, env=environment,
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


def records(output: bytes) -> list[tuple[str, str, str]]:
    """Text-format records as (request id, level, message); each must be one line."""
    found = []
    for line in output.decode().split("\n"):
        if line:
            timestamp, request_id, level, message = line.split("\t", 3)
            assert re.fullmatch(TIMESTAMP, timestamp), line
            found.append((request_id, level, message))
    return found


def error_post(post: Post, request_id: str) -> dict[str, Any]:
    assert post.path == f"/2018-06-01/runtime/invocation/{request_id}/error"
    body = post.json
    assert list(body) == ["errorType", "errorMessage", "trace"]
    assert post.headers["lambda-runtime-function-error-type"] == body["errorType"]
    assert post.headers["content-type"] == "application/json"
    return body  # type: ignore[no-any-return]


# --- invocations ---------------------------------------------------------------------------------


def test_async_handler_result_and_every_context_field(api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        exports.handler = async (event, context) => ({
          event, requestId: context.awsRequestId, arn: context.invokedFunctionArn,
          name: context.functionName, version: context.functionVersion, memory: context.memoryLimitInMB,
          group: context.logGroupName, stream: context.logStreamName, identity: context.identity,
          clientContext: context.clientContext, tenant: context.tenantId,
          waits: context.callbackWaitsForEmptyEventLoop, remaining: context.getRemainingTimeInMillis(),
          trace: process.env._X_AMZN_TRACE_ID ?? null, cwd: process.cwd(),
          keys: Object.keys(context),
        });
    """)
    start()
    client_context = {"custom": {"k": "v"}, "env": {"platform": "x"}, "client": {"installation_id": "i-1"}}
    post = api.invoke({"a": [1, 2]}, "req-42", Lambda_Runtime_Client_Context=json.dumps(client_context),
                      Lambda_Runtime_Cognito_Identity='{"cognitoIdentityId":"id-1","cognitoIdentityPoolId":"pool-1"}',
                      Lambda_Runtime_Trace_Id="Root=1-5e1b4151-5ac6c58f;Sampled=1",
                      Lambda_Runtime_Aws_Tenant_Id="tenant-a")

    assert post.path == "/2018-06-01/runtime/invocation/req-42/response"
    assert post.headers["content-type"] == "application/json"
    assert post.body.startswith(b'{"event":{"a":[1,2]},"requestId":"req-42"')  # JSON.stringify, compact
    result = post.json
    assert result.pop("remaining") in range(29_000, 30_001)
    assert result == {
        "event": {"a": [1, 2]}, "requestId": "req-42", "arn": ARN, "name": "fn", "version": "$LATEST",
        "memory": "256",  # a string, as on AWS
        "group": "/aws/lambda/fn", "stream": "2024/01/01/[$LATEST]abc",
        "identity": {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"},
        "clientContext": client_context, "tenant": "tenant-a", "waits": True,
        "trace": "Root=1-5e1b4151-5ac6c58f;Sampled=1", "cwd": str(task_root),
        # AWS's order: the callback part, then the environment, then the headers.
        "keys": ["callbackWaitsForEmptyEventLoop", "succeed", "fail", "done", "functionVersion", "functionName",
                 "memoryLimitInMB", "logGroupName", "logStreamName", "clientContext", "identity",
                 "invokedFunctionArn", "awsRequestId", "tenantId", "getRemainingTimeInMillis"]}


def test_two_invocations_share_module_state_and_one_connection(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        const calls = [];
        exports.handler = async (event) => {
          calls.push(event);
          return { calls, pid: process.pid, trace: process.env._X_AMZN_TRACE_ID ?? null };
        };
    """)
    start()
    first = api.invoke("one", "r1", Lambda_Runtime_Trace_Id="Root=1-abc;Sampled=1").json
    second = api.invoke("two", "r2").json
    assert first["calls"] == ["one"] and second["calls"] == ["one", "two"]
    assert first["pid"] == second["pid"]
    assert (first["trace"], second["trace"]) == ("Root=1-abc;Sampled=1", None)  # removed when absent
    assert api.connections == 1  # keep-alive


def test_callback_handler_waits_for_the_empty_event_loop_unless_told_not_to(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        exports.handler = (event, context, callback) => {
          context.callbackWaitsForEmptyEventLoop = event.wait;
          setTimeout(() => console.log('timer fired', event.n), 300);
          callback(null, { n: event.n });
          callback(null, 'only the first call counts');
        };
    """)
    start(AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING="1")
    began = time.monotonic()
    waited = api.invoke({"wait": True, "n": 1}, "r1")
    assert time.monotonic() - began >= 0.3
    assert waited.json == {"n": 1}
    assert ("r1", "INFO", "timer fired 1") in records(waited.output)

    eager = api.invoke({"wait": False, "n": 2}, "r2")
    assert eager.json == {"n": 2}
    assert b"timer fired 2" not in eager.output  # posted before the timer ran
    # The timer still runs after the response; it logs under the request id of its invoke.
    assert b"\tr2\tINFO\ttimer fired 2\n" in api.wait_output(b"timer fired 2")


def test_legacy_context_methods_and_the_callback_warning(api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        exports.handler = function (event, context, callback) {
          if (event === 'succeed') context.succeed({ ok: true });
          else if (event === 'fail') context.fail('no good');
          else context.done(new RangeError('out of range'));
        };
    """)
    start()
    succeeded = api.invoke("succeed", "r1")
    assert succeeded.json == {"ok": True}
    warning = records(succeeded.output)[0]
    assert warning[:2] == ("undefined", "WARN")  # logged at init, before any request id
    assert warning[2].startswith("AWS Lambda plans to remove support for callback-based function handlers")
    # A non-Error failure is reported with typeof as its type, as on AWS.
    assert error_post(api.invoke("fail", "r2"), "r2") == {"errorType": "string", "errorMessage": "no good",
                                                         "trace": []}
    done = error_post(api.invoke("done", "r3"), "r3")
    assert (done["errorType"], done["errorMessage"]) == ("RangeError", "out of range")


def test_a_non_async_handler_return_value_is_ignored(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        exports.handler = (event) => 'ignored';
    """)
    start()
    # AWS's quirk: without a promise or a callback call the response is null once the loop empties.
    assert api.invoke({}, "r1").body == b"null"


def test_an_async_handler_whose_promise_never_settles_is_a_node_js_exit(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        exports.handler = async () => new Promise(() => {});
    """)
    start()
    body = error_post(api.invoke({}, "r1"), "r1")
    assert body["errorType"] == "Runtime.NodeJsExit"
    assert body["errorMessage"].startswith("The Lambda runtime client detected an unexpected Node.js exit code.")
    assert api.invoke({}, "r2").path.endswith("/r2/error")  # the environment lives on


def test_esm_handlers_mjs_and_package_type_module_in_nested_folders(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        import { sep } from 'node:path';
        export const handler = async (event) => ({ esm: typeof require === 'undefined', sep, event });
    """, "src/app.mjs")
    write(task_root, '{"type": "module"}', "lib/package.json")
    write(task_root, """
        export const nested = { handler: async () => import.meta.url.endsWith('/lib/mod.js') };
    """, "lib/mod.js")
    first = start("src/app.handler")
    assert api.invoke({"x": 1}).json == {"esm": True, "sep": "/", "event": {"x": 1}}
    first.kill()  # its parked GET next must not take the next invocation
    first.wait()
    start("lib/mod.nested.handler")
    assert api.invoke({}).json is True


def test_node_path_reaches_layer_modules(api: RuntimeApiStub, task_root: Path, tmp_path: Path,
                                         start: Start) -> None:
    layer = tmp_path / "opt" / "nodejs" / "node_modules"
    write(layer, "exports.greet = (name) => `hello ${name}`;", "greeter/index.js")
    write(task_root, """
        const { greet } = require('greeter');
        exports.handler = async (event) => greet(event);
    """, "app.cjs")
    start("app.handler", NODE_PATH=f"/nonexistent:{layer}")
    assert api.invoke("layer").json == "hello layer"


def test_console_output_is_in_the_pipe_before_the_result_is_posted(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        console.log('loading');
        exports.handler = async (event) => {
          console.log('hello', event, { a: 1 });
          console.info('two\\nlines');
          console.warn('careful');
          console.error('bad %d', 7);
          console.debug('details');
          console.trace('tracing');
          console.log();
          return undefined;
        };
    """)
    start()
    post = api.invoke("ev", "req-7")
    assert post.body == b"null"  # undefined is null, as JSON.stringify(null)
    # The stub read the pipe when the POST arrived: every record was already there, one line each.
    assert records(post.output) == [
        ("undefined", "INFO", "loading"),
        ("req-7", "INFO", "hello ev { a: 1 }"),
        ("req-7", "INFO", "two\rlines"),
        ("req-7", "WARN", "careful"),
        ("req-7", "ERROR", "bad 7"),
        ("req-7", "DEBUG", "details"),
        ("req-7", "TRACE", "tracing"),  # no stack, as on AWS
        ("req-7", "INFO", "undefined"),  # console.log() formats undefined, as on AWS
    ]


def test_output_written_through_process_stdout_also_precedes_the_result(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        exports.handler = async () => {
          process.stdout.write('x'.repeat(200000) + '\\n');
          console.log('after the big write');
          return 'ok';
        };
    """)
    start()
    # The big write overflows the pipe: read it all along, as the platform does.
    stop = threading.Event()
    reader = threading.Thread(target=lambda: [api.drain() for _ in iter(lambda: stop.wait(0.005), True)])
    reader.start()
    try:
        post = api.invoke({}, "r1", timeout=10)
    finally:
        stop.set()
        reader.join()
    assert post.json == "ok"
    # All of it arrived before the POST, and the record came after the user's write, not inside it.
    assert post.output.count(b"x") == 200_000
    assert re.fullmatch(rb"x{200000}\n" + TIMESTAMP.encode() + rb"\tr1\tINFO\tafter the big write\n", post.output)


def test_remaining_time_counts_down_to_the_deadline(api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        exports.handler = async (event, context) => {
          const first = context.getRemainingTimeInMillis();
          await new Promise((resolve) => setTimeout(resolve, 50));
          return [first, context.getRemainingTimeInMillis()];
        };
    """)
    start()
    first, second = api.invoke({}, "r1", Lambda_Runtime_Deadline_Ms=str(int(time.time() * 1000) + 2_000)).json
    assert 1_000 < first <= 2_000
    assert 40 <= first - second < 1_000
    # Not clamped at zero: AWS's Node runtime returns deadline - now.
    late, later = api.invoke({}, "r2", Lambda_Runtime_Deadline_Ms=str(int(time.time() * 1000) - 5)).json
    assert late <= -5 and later < late


def test_json_log_format_and_level(api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        exports.handler = async (event) => {
          console.debug('hidden below INFO');
          console.info({ order: 7, nested: { ok: true } });
          console.warn('count %d', 3, new Error('attached'));
          throw new TypeError('bad type');
        };
    """)
    start(AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="info")
    post = api.invoke({}, "req-9", Lambda_Runtime_Aws_Tenant_Id="t-1")
    lines = post.output.decode().splitlines()
    logged = [json.loads(line) for line in lines]
    assert [record["level"] for record in logged] == ["INFO", "WARN", "ERROR"]
    info, warn, error = logged
    assert list(info) == ["timestamp", "level", "requestId", "tenantId", "message"]
    assert re.fullmatch(TIMESTAMP, info["timestamp"])
    assert (info["requestId"], info["tenantId"]) == ("req-9", "t-1")
    assert info["message"] == {"order": 7, "nested": {"ok": True}}
    assert warn["message"].startswith("count 3 Error: attached\n    at ")  # util.format; \n escaped by JSON
    assert (warn["errorType"], warn["errorMessage"]) == ("Error", "attached")
    assert warn["stackTrace"][0] == "Error: attached"
    # The invoke error record: the Error itself as the message, typed by its constructor's name.
    assert error["message"]["errorType"] == "TypeError" and error["message"]["errorMessage"] == "bad type"
    assert error["message"]["stackTrace"][0] == "TypeError: bad type"
    assert error_post(post, "req-9")["errorType"] == "TypeError"


# --- invocation errors ---------------------------------------------------------------------------


def test_handler_exception_is_posted_with_trace_and_logged_as_one_record(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        exports.handler = async () => {
          const error = new Error('boom');
          error.code = 'E_BOOM';
          throw error;
        };
    """)
    start()
    post = api.invoke({}, "req-e")
    body = error_post(post, "req-e")
    assert (body["errorType"], body["errorMessage"]) == ("Error", "boom")
    assert body["trace"][0] == "Error: boom"
    assert body["trace"][1] == f"    at exports.handler ({task_root}/index.js:3:17)"
    xray = json.loads(post.headers["lambda-runtime-function-xray-error-cause"])
    assert xray["exceptions"][0]["stack"][0] == {"path": f"{task_root}/index.js", "line": 3,
                                                 "label": "exports.handler"}
    [(request_id, level, message)] = records(post.output)
    assert (request_id, level) == ("req-e", "ERROR")
    title, formatted = message.split("\t")
    assert title == "Invoke Error "  # util.format's space, then AWS's tab
    assert json.loads(formatted) == {"errorType": "Error", "errorMessage": "boom", "code": "E_BOOM",
                                     "stack": body["trace"]}
    assert api.invoke({}, "req-f").path.endswith("/req-f/error")  # the environment survives


def test_unserializable_result_is_an_invocation_error(api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        exports.handler = async () => { const loop = {}; loop.self = loop; return loop; };
    """)
    start()
    body = error_post(api.invoke({}, "r1"), "r1")
    assert (body["errorType"], body["errorMessage"]) == ("Error", "Unable to stringify response body")


def test_unhandled_rejection_fails_the_invocation_and_ends_the_process(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        exports.handler = async () => {
          Promise.reject(new Error('late'));
          await new Promise((resolve) => setTimeout(resolve, 200));
          return 'never';
        };
    """)
    process = start()
    post = api.invoke({}, "r1")
    body = error_post(post, "r1")
    assert (body["errorType"], body["errorMessage"]) == ("Runtime.UnhandledPromiseRejection", "Error: late")
    assert body["trace"][0] == "Runtime.UnhandledPromiseRejection: Error: late"
    assert process.wait(timeout=5) == 128
    [(_, level, message)] = records(post.output)
    assert level == "ERROR" and message.startswith("Unhandled Promise Rejection \t")
    logged = json.loads(message.split("\t", 1)[1])
    assert list(logged) == ["errorType", "errorMessage", "reason", "promise", "stack"]
    assert logged["reason"]["errorMessage"] == "late"


def test_uncaught_exception_in_a_timer_fails_the_invocation_and_ends_the_process(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        exports.handler = (event, context, callback) => {
          setTimeout(() => { throw new SyntaxError('from a timer'); }, 10);
        };
    """)
    process = start(AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING="1")
    post = api.invoke({}, "r1")
    assert error_post(post, "r1")["errorMessage"] == "from a timer"
    assert process.wait(timeout=5) == 129
    assert records(post.output)[0][2].startswith('Uncaught Exception \t{"errorType":"SyntaxError"')


def test_runtime_api_answers_a_4xx_is_not_fatal_but_its_absence_is(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, "exports.handler = async (event) => event;")
    process = start()
    api.post_status, api.close_after_post = 400, True
    assert api.invoke("first", "r1").json == "first"
    api.post_status, api.close_after_post = 202, False
    assert api.invoke("second", "r2", chunked=True).json == "second"
    assert api.connections == 2  # reconnected after "Connection: close"
    api.stop()
    assert process.wait(timeout=5) == 2
    assert process.stderr is not None
    stderr = process.stderr.read()
    assert b"lamina bootstrap: the Runtime API answered 400 to the response of request r1\n" in stderr
    assert b"cannot connect to the Runtime API" in stderr


def test_a_keep_alive_connection_the_server_dropped_is_replaced(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, "exports.handler = async () => 'x'.repeat(4000000);")
    process = start()
    api.drop_after_next = True  # closes after answering GET next, without "Connection: close"
    assert len(api.invoke({}, "r1").json) == 4_000_000
    assert api.connections == 2 and process.poll() is None


def test_response_streaming_handlers_are_buffered(api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
          responseStream.setContentType('text/plain');
          responseStream.write('hello ');
          responseStream.end(context.awsRequestId);
        });
    """, "index.mjs")
    start()
    post = api.invoke({}, "r1")
    assert (post.body, post.headers["content-type"]) == (b"hello r1", "text/plain")


# --- init errors ---------------------------------------------------------------------------------


def init_error(api: RuntimeApiStub, process: subprocess.Popen[bytes]) -> tuple[dict[str, Any], str]:
    """The init error body and its one log record, after checking the POST and the exit status."""
    post = api.posts.get(timeout=5)
    assert post.path == "/2018-06-01/runtime/init/error"
    assert process.wait(timeout=5) == 129  # AWS's exit status after an uncaught exception
    body = post.json
    assert list(body) == ["errorType", "errorMessage", "trace"]
    assert post.headers["lambda-runtime-function-error-type"] == body["errorType"]
    [*_, (request_id, level, message)] = records(post.output)
    assert (request_id, level) == ("undefined", "ERROR")
    title, formatted = message.split("\t")
    assert title == "Uncaught Exception "
    logged = json.loads(formatted)
    assert (logged["errorType"], logged["errorMessage"]) == (body["errorType"], body["errorMessage"])
    return body, message


def test_missing_module_is_an_import_module_error(api: RuntimeApiStub, start: Start) -> None:
    body, _ = init_error(api, start())
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"] == f"Error: Cannot find module 'index'\nRequire stack:\n- {BOOTSTRAP}"
    assert body["trace"][:3] == ["Runtime.ImportModuleError: Error: Cannot find module 'index'",
                                 "Require stack:", f"- {BOOTSTRAP}"]


def test_missing_dependency_of_the_module_is_an_import_module_error(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, "const lodash = require('lodash');\nexports.handler = async () => 1;\n")
    body, _ = init_error(api, start())
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"].startswith(
        f"Error: Cannot find module 'lodash'\nRequire stack:\n- {task_root}/index.js")


def test_missing_export_is_handler_not_found(api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, "exports.other = 1;\nexports.notFn = 2;\n", "lib/index.js")
    body, _ = init_error(api, start("lib/index.nope"))
    assert (body["errorType"], body["errorMessage"]) == ("Runtime.HandlerNotFound",
                                                         "lib/index.nope is undefined or not exported")
    body, _ = init_error(api, start("lib/index.notFn"))
    assert body["errorMessage"] == "lib/index.notFn is not a function"


def test_syntax_error_is_user_code_syntax_error(api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, "exports.handler = async () => 1;\nconst x = = 1;\n")
    body, _ = init_error(api, start())
    assert (body["errorType"], body["errorMessage"]) == ("Runtime.UserCodeSyntaxError",
                                                         "SyntaxError: Unexpected token '='")
    assert body["trace"][0] == "Runtime.UserCodeSyntaxError: SyntaxError: Unexpected token '='"


def test_malformed_handler_names(api: RuntimeApiStub, start: Start) -> None:
    body, _ = init_error(api, start("index"))
    assert (body["errorType"], body["errorMessage"]) == ("Runtime.MalformedHandlerName", "Bad handler")
    body, _ = init_error(api, start("../escape.handler"))
    assert body["errorMessage"] == ("'../escape.handler' is not a valid handler name. Use absolute paths when "
                                    "specifying root directories in handler names.")


def test_exception_at_module_top_is_reported_under_its_own_type(
        api: RuntimeApiStub, task_root: Path, start: Start) -> None:
    write(task_root, """
        console.log('module top runs');
        throw new RangeError('no config');
    """, "index.mjs")
    body, _ = init_error(api, start())
    assert (body["errorType"], body["errorMessage"]) == ("RangeError", "no config")
    assert body["trace"][1] == f"    at file://{task_root}/index.mjs:3:7"
