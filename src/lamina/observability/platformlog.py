"""Log text of functions whose LoggingConfig.LogFormat is JSON: AWS's platform records instead of
START / END / REPORT, and log-level filtering.

Records are the Telemetry API event types Lambda writes to CloudWatch in JSON format (Lambda developer
guide, "Telemetry API Event schema reference" and "Log-level filtering"): ``platform.initStart``,
``platform.initRuntimeDone``, ``platform.initReport`` (cold starts), ``platform.start``,
``platform.runtimeDone`` and ``platform.report``, each ``{"time", "type", "record"}``. Their system
levels: ``initRuntimeDone`` and ``runtimeDone`` are DEBUG, the others INFO; ``SystemLogLevel``
(default INFO) drops what is below it. ``ApplicationLogLevel`` drops application lines below it; a
line without a valid ``"level"`` (plain ``print`` output) counts as INFO, as AWS documents.
"""

from __future__ import annotations

import json
from typing import Any

from lamina.observability.report import Report, timestamp

_RANK = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "WARNING": 3, "ERROR": 4, "FATAL": 5, "CRITICAL": 5}
_INFO = _RANK["INFO"]


def _record(moment: float, kind: str, record: dict[str, Any]) -> str:
    return json.dumps({"time": timestamp(moment), "type": kind, "record": record}, separators=(",", ":")) + "\n"


def _line_level(line: str) -> int:
    if not line.startswith("{"):
        return _INFO
    try:
        level = json.loads(line).get("level")
    except (ValueError, AttributeError):
        return _INFO
    return _RANK.get(str(level).upper(), _INFO) if level is not None else _INFO


def filter_application(output: str, level: str | None) -> str:
    """Application output with the lines below ``level`` removed (all of it when ``level`` is None)."""
    threshold = _RANK.get((level or "").upper())
    if not threshold or not output:
        return output
    kept = [line for line in output.splitlines(keepends=True) if _line_level(line) >= threshold]
    return "".join(kept)


def json_log_text(*, request_id: str, version: str, output: str, report: Report, error_type: str | None,
                  now: float, system_level: str | None, application_level: str | None,
                  function_name: str = "") -> str:
    """The JSON-format log text of one invocation (records in the order Lambda writes them)."""
    keep = _RANK.get((system_level or "INFO").upper(), _INFO)
    end = now
    start = end - report.duration_ms / 1000
    status = report.status or ("error" if error_type else "success")
    parts: list[str] = []
    if report.init_duration_ms is not None:
        init_start = start - report.init_duration_ms / 1000
        if keep <= _INFO:
            parts.append(_record(init_start, "platform.initStart", {
                "initializationType": "on-demand", "phase": "init", "functionName": function_name,
                "functionVersion": version}))
        if keep <= _RANK["DEBUG"]:
            parts.append(_record(start, "platform.initRuntimeDone", {
                "initializationType": "on-demand", "phase": "init", "status": "success"}))
        if keep <= _INFO:
            parts.append(_record(start, "platform.initReport", {
                "initializationType": "on-demand", "phase": "init", "status": "success",
                "metrics": {"durationMs": round(report.init_duration_ms, 3)}}))
    if keep <= _INFO:
        parts.append(_record(start, "platform.start", {"requestId": request_id, "version": version}))
    parts.append(filter_application(output, application_level))
    if keep <= _RANK["DEBUG"]:
        parts.append(_record(end, "platform.runtimeDone", {
            "requestId": request_id, "status": status,
            "metrics": {"durationMs": round(report.duration_ms, 3), "producedBytes": len(output.encode())}}))
    if keep <= _INFO:
        metrics: dict[str, Any] = {"durationMs": round(report.duration_ms, 3),
                                   "billedDurationMs": report.billed_duration_ms,
                                   "memorySizeMB": report.memory_size_mb, "maxMemoryUsedMB": report.max_memory_used_mb}
        if report.init_duration_ms is not None:
            metrics["initDurationMs"] = round(report.init_duration_ms, 3)
        record: dict[str, Any] = {"requestId": request_id, "metrics": metrics, "status": status}
        if error_type and status != "success":
            record["errorType"] = error_type
        parts.append(_record(end, "platform.report", record))
    return "".join(parts)
