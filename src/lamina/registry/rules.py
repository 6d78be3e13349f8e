"""Domain rules for function configuration that the service model cannot express.

Wording follows what AWS answers, so scripts that match on messages keep working.
"""

from __future__ import annotations

import json
import re

from lamina.config import Limits
from lamina.errors import InvalidParameterValueException

# Reserved variables the runtime sets; AWS refuses to let a function override them
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
RESERVED_ENV = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})

# Runtimes AWS no longer accepts for new functions or updates
# (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html#runtimes-deprecated).
DEPRECATED_RUNTIMES = frozenset({
    "python2.7", "python3.6", "python3.7", "nodejs", "nodejs4.3", "nodejs4.3-edge", "nodejs6.10",
    "nodejs8.10", "nodejs10.x", "nodejs12.x", "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1",
    "dotnetcore3.1", "ruby2.5", "ruby2.7", "java8", "go1.x", "provided",
})

_ENV_KEY = re.compile(r"[a-zA-Z]([a-zA-Z0-9_])+")


def check_runtime(runtime: str) -> None:
    if runtime in DEPRECATED_RUNTIMES:
        raise InvalidParameterValueException(
            f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS "
            "Lambda functions. We recommend you use a supported runtime while creating or updating "
            "functions.")


def check_environment(variables: dict[str, str], limits: Limits) -> None:
    reserved = sorted(k for k in variables if k in RESERVED_ENV)
    if reserved:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment "
            "variables you have provided contains reserved keys that are currently not supported for "
            f"modification. Reserved keys used in this request: {', '.join(reserved)}")
    bad = [k for k in variables if not _ENV_KEY.fullmatch(k)]
    if bad:
        raise InvalidParameterValueException(
            f"Lambda was unable to configure your environment variables because the environment "
            f"variable name '{bad[0]}' is invalid: names start with a letter and contain only "
            "letters, digits and underscores.")
    # AWS measures the compact JSON of the map against the 4 KB quota.
    measured = json.dumps(variables, separators=(",", ":"))
    if len(measured.encode()) > limits.env_vars_bytes:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment "
            f"variables you have provided exceeded the 4KB limit. String measured: {measured}")

