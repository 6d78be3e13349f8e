"""From a function version to the recipe for one of its execution environments.

The variables are the ones AWS's runtimes set
(https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime);
the function's own variables come first so the reserved ones always win.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from lamina.config import Settings
from lamina.invoker.runtimes import Runner
from lamina.registry.code import CodeArtifact
from lamina.registry.model import FunctionVersion
from lamina.sandbox.environment import Spec

RUNTIME_DIR = str(Path(__file__).resolve().parent.parent / "sandbox" / "runtimes" / "python")


def log_stream_name(version: str, environment_id: str, now: float) -> str:
    """``YYYY/MM/DD/[$LATEST]<id>``, one stream per execution environment, as AWS names them."""
    return time.strftime("%Y/%m/%d", time.gmtime(now)) + f"/[{version}]{environment_id}"


def build_spec(fn: FunctionVersion, runner: Runner, code: CodeArtifact, environment_id: str,
               settings: Settings, now: float, opt_path: str | None = None) -> Spec:
    """The process recipe for one environment of ``fn`` run by ``runner``.

    LAMBDA_TASK_ROOT is set by the zygote: ``/var/task`` inside a mount namespace, else the code's
    own folder.
    """
    env = dict(fn.environment)
    # Functions calling AWS services with boto3 reach this Lamina unless they say otherwise.
    env.setdefault("AWS_ENDPOINT_URL", settings.endpoint)
    env.update({
        "_HANDLER": fn.handler,
        "AWS_REGION": fn.region,
        "AWS_DEFAULT_REGION": fn.region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": fn.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": fn.version,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": fn.log_group_name,
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream_name(fn.version, environment_id, now),
        "AWS_LAMBDA_LOG_FORMAT": fn.log_format,
        # Local credentials: Lamina does not check signatures unless authentication is on.
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_SESSION_TOKEN": "test",
        "LAMBDA_RUNTIME_DIR": RUNTIME_DIR,
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "PATH": "/usr/local/bin:/usr/bin:/bin:/opt/bin",
        "LD_LIBRARY_PATH": "/opt/lib",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    })
    if fn.application_log_level:
        env["AWS_LAMBDA_LOG_LEVEL"] = fn.application_log_level
    if settings.xray_daemon_address:
        # Where aws-xray-sdk and Powertools Tracer send segments: Lamina's X-Ray daemon listener.
        host, _, port = settings.xray_daemon_address.rpartition(":")
        env["AWS_XRAY_DAEMON_ADDRESS"] = settings.xray_daemon_address
        env["_AWS_XRAY_DAEMON_ADDRESS"] = host
        env["_AWS_XRAY_DAEMON_PORT"] = port
    if runner.kind == "exec":
        # A custom runtime may be written in Python (awslambdaric in the zip) or call node.
        env["PATH"] = f"{os.path.dirname(sys.executable)}:{env['PATH']}"
        if fn.runtime.startswith("nodejs"):
            env["NODE_PATH"] = "/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules"
    return Spec(env=env, code_sha=code.sha256, code_path=str(code.root), memory_mb=fn.memory_size,
                tmp_mb=fn.ephemeral_storage, exec_argv=list(runner.argv) if runner.kind == "exec" else None,
                notice=runner.warning, opt_path=opt_path)
