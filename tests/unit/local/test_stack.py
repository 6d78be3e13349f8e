"""Local mode's pure parts: the watch fingerprint, the code paths a stack names, and finding
functions and APIs in a stack's record."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lamina.deploy.model import LocalPath, Resource, Stack
from lamina.deploy.state import ResourceState, StackState
from lamina.local.platform import remove_tree
from lamina.local.stack import LocalStack, code_paths, differences, snapshot


def test_snapshot_sees_edits_additions_removals_and_skips_caches(tmp_path: Path) -> None:
    code = tmp_path / "src"
    (code / "__pycache__").mkdir(parents=True)
    (code / "app.py").write_text("v = 1\n")
    (code / "__pycache__" / "app.cpython-312.pyc").write_bytes(b"x")
    template = tmp_path / "template.yaml"
    template.write_text("Resources: {}\n")
    before = snapshot((template, code))
    assert sorted(before) == [str(code / "app.py"), str(template)]
    assert differences(before, snapshot((template, code))) == []

    # Same size, later time: an in-place edit.
    (code / "app.py").write_text("v = 2\n")
    stamp = os.stat(code / "app.py").st_mtime_ns + 1_000_000
    os.utime(code / "app.py", ns=(stamp, stamp))
    (code / "__pycache__" / "app.cpython-312.pyc").write_bytes(b"changed")
    (code / "new.py").write_text("")
    template.unlink()
    assert differences(before, snapshot((template, code))) == sorted(
        [str(code / "app.py"), str(code / "new.py"), str(template)])


def test_code_paths_are_every_local_path_once(tmp_path: Path) -> None:
    src, layer = tmp_path / "src", tmp_path / "layer"
    resources = {
        "A": Resource("A", "AWS::Lambda::Function", {"Code": {"ZipFile": LocalPath(src)}}),
        "B": Resource("B", "AWS::Lambda::Function", {"Code": {"ZipFile": LocalPath(src)}}),
        "L": Resource("L", "AWS::Lambda::LayerVersion", {"Content": {"ZipFile": LocalPath(layer, "layer")}}),
        "Q": Resource("Q", "AWS::SQS::Queue", {"QueueName": "q"}),
    }
    stack = Stack("s", tmp_path / "template.yaml", "us-east-1", "000000000000", resources)
    assert code_paths(stack) == (src, layer)


def deployed(resources: list[ResourceState]) -> LocalStack:
    stack = LocalStack(Path("."), region="us-east-1", account_id="000000000000")
    stack.state = StackState("demo", "us-east-1", "000000000000", {item.logical_id: item for item in resources})
    return stack


def test_function_name_by_logical_id_or_name() -> None:
    one = deployed([ResourceState("Echo", "AWS::Lambda::Function", "demo-Echo", {})])
    assert one.function_name(None) == one.function_name("Echo") == one.function_name("demo-Echo") == "demo-Echo"
    two = deployed([ResourceState("Echo", "AWS::Lambda::Function", "demo-Echo", {}),
                    ResourceState("Named", "AWS::Lambda::Function", "Named", {})])
    with pytest.raises(KeyError, match="the template has 2 functions; name one: Echo \\(demo-Echo\\), Named"):
        two.function_name(None)
    with pytest.raises(KeyError, match="no function Other in the template"):
        two.function_name("Other")


def test_apis_are_served_from_default_else_their_first_stage() -> None:
    stack = deployed([
        ResourceState("Http", "AWS::ApiGatewayV2::Api", "h1", {}),
        ResourceState("HttpProd", "AWS::ApiGatewayV2::Stage", "prod", {}, data={"api": "h1"}),
        ResourceState("HttpDefault", "AWS::ApiGatewayV2::Stage", "$default", {}, data={"api": "h1"}),
        ResourceState("Rest", "AWS::ApiGateway::RestApi", "r1", {}),
        ResourceState("RestStage", "AWS::ApiGateway::Stage", "Prod", {}, data={"api": "r1"}),
        ResourceState("Bare", "AWS::ApiGatewayV2::Api", "b1", {}),
    ])
    assert [(m.logical_id, m.api_id, m.stage) for m in stack.apis()] == [
        ("Http", "h1", "$default"), ("Rest", "r1", "Prod"), ("Bare", "b1", None)]


def test_remove_tree_removes_sealed_folders(tmp_path: Path) -> None:
    root = tmp_path / "data"
    sealed = root / "code" / "tree"
    sealed.mkdir(parents=True)
    (sealed / "app.py").write_text("")
    os.chmod(sealed / "app.py", 0o444)
    os.chmod(sealed, 0o555)
    remove_tree(root)
    assert not root.exists()
    remove_tree(root)  # already gone: nothing to do
