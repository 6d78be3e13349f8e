"""Route keys (AWS's format and wording) and matching priorities."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lamina.triggers.gateway.routes import BAD_ROUTE_KEY, RouteKeyError, Router, parse_route_key


@pytest.mark.parametrize("key", ["$default", "GET /", "ANY /{proxy+}", "GET /items/{id}", "POST /items",
                                 "DELETE /a/{b}/c/{d+}", "OPTIONS /x.json", "HEAD /v1/items-list/{item_id}"])
def test_valid_route_keys(key: str) -> None:
    assert parse_route_key(key).text == key


@pytest.mark.parametrize("key", ["GET", "/items", "FETCH /items", "GET items", "$connect", "get /items",
                                 "GET  /items", "GET /items/", "GET //items", "GET /{proxy+}/tail",
                                 "GET /{a}/{a}", "GET /{}", "GET /{bad name}", "GET /items{id}", "GET /a?b",
                                 "", "GET /a b", "ANY /{proxy++}"])
def test_malformed_route_keys_get_awss_message(key: str) -> None:
    with pytest.raises(RouteKeyError) as excinfo:
        parse_route_key(key)
    assert str(excinfo.value) == BAD_ROUTE_KEY


@given(st.text(max_size=40))
def test_any_text_parses_or_gets_awss_message(text: str) -> None:
    try:
        key = parse_route_key(text)
    except RouteKeyError as error:
        assert str(error) == BAD_ROUTE_KEY
    else:
        assert key.text == text and (key.is_default or key.method + " " + key.path == text)


def router(*keys: str) -> Router[str]:
    return Router((parse_route_key(key), key) for key in keys)


def matched(r: Router[str], method: str, path: str) -> tuple[str, dict[str, str]] | None:
    found = r.match(method, path)
    return None if found is None else (found.value, found.parameters)


def test_exact_beats_parameters_beats_greedy_beats_default() -> None:
    r = router("$default", "ANY /{proxy+}", "GET /items/{id}", "GET /items/special", "ANY /items/{proxy+}")
    assert matched(r, "GET", "/items/special") == ("GET /items/special", {})
    assert matched(r, "GET", "/items/7") == ("GET /items/{id}", {"id": "7"})
    assert matched(r, "GET", "/items/7/parts") == ("ANY /items/{proxy+}", {"proxy": "7/parts"})
    assert matched(r, "POST", "/other/x") == ("ANY /{proxy+}", {"proxy": "other/x"})
    assert matched(r, "GET", "/") == ("$default", {})


def test_method_specific_beats_any_for_the_same_path() -> None:
    r = router("ANY /items/{id}", "GET /items/{id}", "ANY /x", "POST /x")
    assert matched(r, "GET", "/items/1") == ("GET /items/{id}", {"id": "1"})
    assert matched(r, "PUT", "/items/1") == ("ANY /items/{id}", {"id": "1"})
    assert matched(r, "POST", "/x") == ("POST /x", {})
    assert matched(r, "DELETE", "/x") == ("ANY /x", {})


def test_a_literal_segment_beats_a_parameter_where_they_first_differ() -> None:
    r = router("GET /{a}/{b}", "GET /users/{id}", "GET /{a}/profile", "GET /users/{id}/{tab}", "GET /users/{id}/posts")
    assert matched(r, "GET", "/users/9") == ("GET /users/{id}", {"id": "9"})
    assert matched(r, "GET", "/teams/profile") == ("GET /{a}/profile", {"a": "teams"})
    assert matched(r, "GET", "/users/profile") == ("GET /users/{id}", {"id": "profile"})
    assert matched(r, "GET", "/users/9/posts") == ("GET /users/{id}/posts", {"id": "9"})
    assert matched(r, "GET", "/users/9/likes") == ("GET /users/{id}/{tab}", {"id": "9", "tab": "likes"})


def test_the_longest_greedy_prefix_wins() -> None:
    r = router("ANY /{proxy+}", "ANY /api/{proxy+}", "ANY /api/v2/{rest+}")
    assert matched(r, "GET", "/api/v2/a/b") == ("ANY /api/v2/{rest+}", {"rest": "a/b"})
    assert matched(r, "GET", "/api/v1/a") == ("ANY /api/{proxy+}", {"proxy": "v1/a"})
    assert matched(r, "GET", "/x") == ("ANY /{proxy+}", {"proxy": "x"})


def test_greedy_needs_at_least_one_segment() -> None:
    r = router("ANY /{proxy+}", "GET /items/{rest+}")
    assert r.match("GET", "/") is None
    assert matched(r, "GET", "/items") == ("ANY /{proxy+}", {"proxy": "items"})


def test_no_route_and_no_default_is_none() -> None:
    r = router("GET /items")
    assert r.match("POST", "/items") is None
    assert r.match("GET", "/nothing") is None


def test_path_parameters_are_decoded_and_a_trailing_slash_is_ignored() -> None:
    r = router("GET /files/{name}", "GET /docs/{path+}", "GET /items")
    assert matched(r, "GET", "/files/a%20b.txt") == ("GET /files/{name}", {"name": "a b.txt"})
    assert matched(r, "GET", "/docs/a/b%2Fc") == ("GET /docs/{path+}", {"path": "a/b/c"})
    assert matched(r, "GET", "/items/") == ("GET /items", {})


def test_root_route() -> None:
    r = router("GET /", "GET /{x}")
    assert matched(r, "GET", "/") == ("GET /", {})
    assert matched(r, "GET", "/a") == ("GET /{x}", {"x": "a"})
