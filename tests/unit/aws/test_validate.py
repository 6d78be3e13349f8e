"""Constraint validation with AWS's wording, on the real Lambda model."""

from __future__ import annotations

from typing import Any

import pytest

from lamina.aws.http import HttpRequest
from lamina.aws.model import service_model
from lamina.aws.restjson import RestJsonProtocol
from lamina.aws.validate import Validator, check_overrides, validation_message
from lamina.errors import ValidationException

from .conftest import LAMBDA_OVERRIDES

ROLE = "arn:aws:iam::123456789012:role/lambda-role"
NAME_PATTERN = service_model("lambda").shape_for("FunctionName").metadata["pattern"]


@pytest.fixture(scope="module")
def create_function() -> Validator:
    shape = service_model("lambda").operation_model("CreateFunction").input_shape
    return Validator(shape, LAMBDA_OVERRIDES)


def valid(**changes: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"FunctionName": "my-fn", "Role": ROLE, "Code": {"ZipFile": b"zip"}}
    params.update(changes)
    return {k: v for k, v in params.items() if v is not None}


def test_valid_params_pass(create_function: Validator) -> None:
    assert create_function.errors(valid(MemorySize=10240, Runtime="python3.12", Timeout=900)) == []
    create_function.validate(valid())


@pytest.mark.parametrize(("changes", "error"), [
    ({"MemorySize": 10241},
     "Value '10241' at 'memorySize' failed to satisfy constraint: Member must have value less than or equal "
     "to 10240"),
    ({"MemorySize": 127},
     "Value '127' at 'memorySize' failed to satisfy constraint: Member must have value greater than or "
     "equal to 128"),
    ({"Timeout": 901},
     "Value '901' at 'timeout' failed to satisfy constraint: Member must have value less than or equal "
     "to 900"),
    ({"Description": "x" * 257},
     f"Value '{'x' * 257}' at 'description' failed to satisfy constraint: Member must have length less "
     "than or equal to 256"),
    ({"FunctionName": "bad name!"},
     f"Value 'bad name!' at 'functionName' failed to satisfy constraint: Member must satisfy regular "
     f"expression pattern: {NAME_PATTERN}"),
    ({"PackageType": "Tarball"},
     "Value 'Tarball' at 'packageType' failed to satisfy constraint: Member must satisfy enum value set: "
     "[Zip, Image]"),
    ({"Role": None},
     "Value null at 'role' failed to satisfy constraint: Member must not be null"),
    ({"Layers": ["not-an-arn"]},
     "Value 'not-an-arn' at 'layers.1.member' failed to satisfy constraint: Member must satisfy regular "
     "expression pattern: " + service_model("lambda").shape_for("LayerVersionArn").metadata["pattern"]),
    ({"EphemeralStorage": {"Size": 511}},
     "Value '511' at 'ephemeralStorage.size' failed to satisfy constraint: Member must have value greater "
     "than or equal to 512"),
    ({"EphemeralStorage": {}},
     "Value null at 'ephemeralStorage.size' failed to satisfy constraint: Member must not be null"),
    # Sensitive values are not echoed, and a bad map key is reported once for the whole map.
    ({"Environment": {"Variables": {"1BAD": "v", "GOOD": "w"}}},
     "Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: "
     "[Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]"),
])
def test_one_violation(create_function: Validator, changes: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationException) as caught:
        create_function.validate(valid(**changes))
    assert caught.value.message == f"1 validation error detected: {error}"
    assert caught.value.status == 400


def test_the_model_bound_applies_without_an_override() -> None:
    validator = Validator(service_model("lambda").operation_model("CreateFunction").input_shape)
    model_max = service_model("lambda").shape_for("MemorySize").metadata["max"]
    assert model_max > 10240
    assert validator.errors(valid(MemorySize=10241)) == []
    assert validator.errors(valid(MemorySize=model_max + 1)) == [
        f"Value '{model_max + 1}' at 'memorySize' failed to satisfy constraint: Member must have value less "
        f"than or equal to {model_max}"]


def test_several_violations_are_joined_in_member_order(create_function: Validator) -> None:
    with pytest.raises(ValidationException) as caught:
        create_function.validate(valid(MemorySize=99999, FunctionName="x!" * 71, Role=None))
    assert caught.value.message == (
        "4 validation errors detected: "
        f"Value '{'x!' * 71}' at 'functionName' failed to satisfy constraint: Member must have length less "
        "than or equal to 140; "
        f"Value '{'x!' * 71}' at 'functionName' failed to satisfy constraint: Member must satisfy regular "
        f"expression pattern: {NAME_PATTERN}; "
        "Value null at 'role' failed to satisfy constraint: Member must not be null; "
        "Value '99999' at 'memorySize' failed to satisfy constraint: Member must have value less than or "
        "equal to 10240")
    assert validation_message(["a", "b"]) == "2 validation errors detected: a; b"


def test_list_length_bounds() -> None:
    shape = service_model("lambda").operation_model("CreateFunction").input_shape
    validator = Validator(shape, {"ArchitecturesList.member": {"pattern": "arm64"}})
    assert validator.errors(valid(Architectures=["x86_64", "arm64"])) == [
        "Value '[x86_64, arm64]' at 'architectures' failed to satisfy constraint: Member must have length "
        "less than or equal to 1",
        "Value 'x86_64' at 'architectures.1.member' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern: arm64"]


def test_unknown_override_is_refused() -> None:
    model = service_model("lambda")
    with pytest.raises(ValueError, match="no member 'MemorySise'"):
        check_overrides(model, {"CreateFunctionRequest.MemorySise": {"max": 1}})
    with pytest.raises(ValueError, match="unsupported keys"):
        check_overrides(model, {"CreateFunctionRequest.MemorySize": {"maximum": 1}})
    check_overrides(model, {"EnvironmentVariables.key": {"max": 8}, "LayerList.member": {"min": 1}})


def test_invoke_request_is_validated_by_the_protocol(lambda_protocol: RestJsonProtocol) -> None:
    request = HttpRequest("POST", "/2015-03-31/functions/my-fn/invocations", "",
                          {"x-amz-invocation-type": "Sometimes"})
    call = lambda_protocol.match(request)
    assert call is not None
    with pytest.raises(ValidationException) as caught:
        lambda_protocol.parse(call.operation, request, call.labels)
    assert caught.value.message == (
        "1 validation error detected: Value 'Sometimes' at 'invocationType' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Event, RequestResponse, DryRun]")


def test_every_lambda_operation_compiles() -> None:
    model = service_model("lambda")
    for name in model.operation_names:
        Validator(model.operation_model(name).input_shape).errors({})
