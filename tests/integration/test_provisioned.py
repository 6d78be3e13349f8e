"""Provisioned concurrency (issue 3): environments initialised ahead of invocations, per alias or
version; IN_PROGRESS → READY; warm invokes; configuration that survives a restart."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import create_python_function, invoke_json, log_tail, start_server

CODE = """
import os

def handler(event, context):
    return {"init": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"), "version": context.function_version}
"""


def wait_ready(client: Any, name: str, qualifier: str, timeout: float = 20.0) -> dict[str, Any]:
    """Poll until the configuration leaves IN_PROGRESS; returns the last GetProvisionedConcurrencyConfig."""
    deadline = time.monotonic() + timeout
    while True:
        config: dict[str, Any] = client.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        if config["Status"] != "IN_PROGRESS" or time.monotonic() > deadline:
            return config
        time.sleep(0.05)


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def publish_with_alias(client: Any) -> tuple[str, str]:
    name = create_python_function(client, CODE)
    version = client.publish_version(FunctionName=name)["Version"]
    client.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    return name, version


@pytest.mark.parametrize("target", ["alias", "version"])
def test_put_get_list_delete_and_warm_invoke(lambda_client: Any, target: str) -> None:
    name, version = publish_with_alias(lambda_client)
    qualifier = "live" if target == "alias" else version
    put = lambda_client.put_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier,
                                                           ProvisionedConcurrentExecutions=2)
    assert put["RequestedProvisionedConcurrentExecutions"] == 2
    assert put["Status"] in ("IN_PROGRESS", "READY")
    config = wait_ready(lambda_client, name, qualifier)
    assert config["Status"] == "READY", config
    assert config["AvailableProvisionedConcurrentExecutions"] == config["RequestedProvisionedConcurrentExecutions"] == 2
    assert config["AllocatedProvisionedConcurrentExecutions"] == 2

    listed = lambda_client.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
    assert [c["FunctionArn"].rsplit(":", 1)[1] for c in listed] == [qualifier]
    assert listed[0]["Status"] == "READY"

    answer, payload = invoke_json(lambda_client, name, Qualifier=qualifier, LogType="Tail")
    assert "FunctionError" not in answer, payload
    assert payload == {"init": "provisioned-concurrency", "version": version}
    report = log_tail(answer)
    assert "REPORT" in report and "Init Duration" not in report, report

    lambda_client.delete_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
    with pytest.raises(ClientError) as excinfo:
        lambda_client.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
    assert error_code(excinfo) == "ProvisionedConcurrencyConfigNotFoundException"
    assert lambda_client.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"] == []


def test_latest_is_refused(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, CODE)
    with pytest.raises(ClientError) as excinfo:
        lambda_client.put_provisioned_concurrency_config(FunctionName=name, Qualifier="$LATEST",
                                                         ProvisionedConcurrentExecutions=1)
    assert error_code(excinfo) == "InvalidParameterValueException"


def test_configuration_survives_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_server(data_dir)
    try:
        client = first.client()
        name, _version = publish_with_alias(client)
        client.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live",
                                                  ProvisionedConcurrentExecutions=1)
        assert wait_ready(client, name, "live")["Status"] == "READY"
    finally:
        first.stop()
    second = start_server(data_dir)
    try:
        client = second.client()
        config = wait_ready(client, name, "live")
        assert config["Status"] == "READY", config
        assert config["AvailableProvisionedConcurrentExecutions"] == 1
        answer, payload = invoke_json(client, name, Qualifier="live", LogType="Tail")
        assert payload["init"] == "provisioned-concurrency"
        assert "Init Duration" not in log_tail(answer)
    finally:
        second.stop()


SLOW_INIT = """
import os, time

time.sleep(1.5)


def handler(event, context):
    return {"init": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")}
"""


def test_in_progress_until_every_environment_is_initialised(lambda_client: Any) -> None:
    """While the environments' init runs the configuration is IN_PROGRESS with none available; once
    they are initialised it is READY with all of them, and an invoke takes one without an init."""
    name = create_python_function(lambda_client, SLOW_INIT)
    version = lambda_client.publish_version(FunctionName=name)["Version"]
    put = lambda_client.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version,
                                                           ProvisionedConcurrentExecutions=2)
    assert put["Status"] == "IN_PROGRESS", put
    during = lambda_client.get_provisioned_concurrency_config(FunctionName=name, Qualifier=version)
    assert during["Status"] == "IN_PROGRESS", during
    assert during["AvailableProvisionedConcurrentExecutions"] == 0, during
    config = wait_ready(lambda_client, name, version)
    assert config["Status"] == "READY", config
    assert config["AvailableProvisionedConcurrentExecutions"] == 2, config
    started = time.monotonic()
    answer, payload = invoke_json(lambda_client, name, Qualifier=version, LogType="Tail")
    assert payload == {"init": "provisioned-concurrency"}, payload
    assert time.monotonic() - started < 1.5, "the invoke waited for an init"
    assert "Init Duration" not in log_tail(answer)
