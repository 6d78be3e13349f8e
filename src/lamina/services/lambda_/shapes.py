"""Domain objects to Lambda's wire shapes (member names from botocore's lambda model)."""

from __future__ import annotations

import re
from typing import Any

from lamina.errors import InvalidParameterValueException, ResourceNotFoundException
from lamina.registry.model import FunctionVersion

# name | account:function:name | arn:aws:lambda:region:account:function:name, each with :qualifier
_FUNCTION_ARN = re.compile(
    r"(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):)?(?:(?P<account>\d{12}):)?(?:function:)?"
    r"(?P<name>[a-zA-Z0-9_.-]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?")


#: resolve_function's answers by (value, region, account): every invoke names its function, and the
#: regex and its groups cost more than the lookup. Only answers are kept, never refusals.
_RESOLVED: dict[tuple[str, str, str], tuple[str, str, str | None]] = {}
_RESOLVED_MAX = 4096


def resolve_function(value: str, region: str, account_id: str) -> tuple[str, str, str | None]:
    """``(region, name, qualifier)`` from any of the forms AWS accepts for FunctionName."""
    key = (value, region, account_id)
    found = _RESOLVED.get(key)
    if found is not None:
        return found
    match = _FUNCTION_ARN.fullmatch(value)
    if match is None:
        raise InvalidParameterValueException(f"Invalid function name or ARN: {value}")
    if match["account"] and match["account"] != account_id:
        raise ResourceNotFoundException(
            f"Function not found: arn:aws:lambda:{region}:{match['account']}:function:{match['name']}")
    found = (match["region"] or region, match["name"], match["qualifier"])
    if len(_RESOLVED) >= _RESOLVED_MAX:
        _RESOLVED.clear()
    _RESOLVED[key] = found
    return found


def function_configuration(fn: FunctionVersion) -> dict[str, Any]:
    """FunctionConfiguration as GetFunctionConfiguration answers it."""
    config: dict[str, Any] = {
        "FunctionName": fn.name,
        "FunctionArn": fn.version_arn,
        "Runtime": fn.runtime,
        "Role": fn.role,
        "Handler": fn.handler,
        "CodeSize": fn.code.size,
        "Description": fn.description,
        "Timeout": fn.timeout,
        "MemorySize": fn.memory_size,
        "LastModified": fn.last_modified,
        "CodeSha256": fn.code.code_sha256,
        "Version": fn.version,
        "TracingConfig": {"Mode": fn.tracing_mode},
        "RevisionId": fn.revision_id,
        "State": fn.state.value,
        "PackageType": fn.package_type,
        "Architectures": list(fn.architectures),
        "EphemeralStorage": {"Size": fn.ephemeral_storage},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "RuntimeVersionConfig": {"RuntimeVersionArn": f"arn:aws:lambda:{fn.region}::runtime:lamina-{fn.runtime}"},
        "LoggingConfig": _logging_config(fn),
    }
    if fn.environment:
        config["Environment"] = {"Variables": dict(fn.environment)}
    if fn.dead_letter_target:
        config["DeadLetterConfig"] = {"TargetArn": fn.dead_letter_target}
    if fn.layers:
        config["Layers"] = [{"Arn": layer["Arn"], "CodeSize": layer["CodeSize"]} for layer in fn.layers]
    if fn.kms_key_arn:
        config["KMSKeyArn"] = fn.kms_key_arn
    if fn.state_reason:
        config["StateReason"] = fn.state_reason
    if fn.state_reason_code:
        config["StateReasonCode"] = fn.state_reason_code
    if fn.last_update_status is not None:
        config["LastUpdateStatus"] = fn.last_update_status.value
    if fn.last_update_status_reason:
        config["LastUpdateStatusReason"] = fn.last_update_status_reason
    if fn.last_update_status_reason_code:
        config["LastUpdateStatusReasonCode"] = fn.last_update_status_reason_code
    return config


def _logging_config(fn: FunctionVersion) -> dict[str, str]:
    logging = {"LogFormat": fn.log_format, "LogGroup": fn.log_group_name}
    if fn.log_format == "JSON":
        # AWS fills the levels in when the format is JSON and leaves them out for Text.
        logging["ApplicationLogLevel"] = fn.application_log_level or "INFO"
        logging["SystemLogLevel"] = fn.system_log_level or "INFO"
    return logging


def configuration_changes(params: dict[str, Any]) -> dict[str, Any]:
    """FunctionVersion field changes from a Create/UpdateFunctionConfiguration request."""
    changes: dict[str, Any] = {}
    simple = {"Runtime": "runtime", "Handler": "handler", "Role": "role", "Description": "description",
              "Timeout": "timeout", "MemorySize": "memory_size", "KMSKeyArn": "kms_key_arn"}
    for member, field_name in simple.items():
        if member in params:
            changes[field_name] = params[member]
    if "Environment" in params:
        changes["environment"] = dict(params["Environment"].get("Variables") or {})
    if "EphemeralStorage" in params:
        changes["ephemeral_storage"] = params["EphemeralStorage"]["Size"]
    if "TracingConfig" in params and params["TracingConfig"].get("Mode"):
        changes["tracing_mode"] = params["TracingConfig"]["Mode"]
    if "DeadLetterConfig" in params:
        changes["dead_letter_target"] = params["DeadLetterConfig"].get("TargetArn") or None
    if "Architectures" in params:
        changes["architectures"] = tuple(params["Architectures"])
    logging = params.get("LoggingConfig")
    if logging:
        if "LogFormat" in logging:
            changes["log_format"] = logging["LogFormat"]
        if "ApplicationLogLevel" in logging:
            changes["application_log_level"] = logging["ApplicationLogLevel"]
        if "SystemLogLevel" in logging:
            changes["system_log_level"] = logging["SystemLogLevel"]
        if "LogGroup" in logging:
            changes["log_group"] = logging["LogGroup"]
    return changes
