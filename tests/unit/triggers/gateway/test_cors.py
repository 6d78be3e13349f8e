"""CORS: configuration checks, preflight answers, and headers on ordinary answers."""

from __future__ import annotations

import pytest

from lamina.triggers.gateway.cors import Cors, decorate, is_preflight, preflight, problem
from lamina.triggers.gateway.http import GatewayRequest, GatewayResponse

CONFIG = Cors(allow_origins=("https://app.example.com", "https://*.example.org"), allow_methods=("GET", "POST"),
              allow_headers=("content-type", "x-api-key"), expose_headers=("x-request-id",), max_age=600)


def options(origin: str = "https://app.example.com", method: str = "POST",
            headers: str | None = "Content-Type") -> GatewayRequest:
    lines = [("origin", origin), ("access-control-request-method", method)]
    if headers is not None:
        lines.append(("access-control-request-headers", headers))
    return GatewayRequest("OPTIONS", "/", headers=tuple(lines))


def test_wire_round_trip() -> None:
    wire = {"AllowCredentials": True, "AllowHeaders": ["a"], "AllowMethods": ["GET"], "AllowOrigins": ["*"],
            "ExposeHeaders": ["b"], "MaxAge": 5}
    assert Cors.from_wire(wire).to_wire() == wire
    assert Cors.from_wire({}).to_wire() == {}


@pytest.mark.parametrize(("cors", "fragment"), [
    (Cors(allow_methods=("FETCH",)), "AllowMethods"),
    (Cors(allow_origins=("example.com",)), "AllowOrigins"),
    (Cors(allow_origins=("https://example.com/path",)), "AllowOrigins"),
    (Cors(allow_headers=("bad header",)), "AllowHeaders"),
    (Cors(expose_headers=("x:y",)), "ExposeHeaders"),
    (Cors(max_age=86401), "MaxAge"),
    (Cors(max_age=-5), "MaxAge"),
])
def test_invalid_configurations_are_named(cors: Cors, fragment: str) -> None:
    message = problem(cors)
    assert message is not None and fragment in message


def test_valid_configurations_pass() -> None:
    assert problem(CONFIG) is None
    assert problem(Cors(allow_origins=("*",), allow_methods=("*",), allow_headers=("*",), max_age=0)) is None
    assert problem(Cors(allow_origins=("http://localhost:3000",), allow_methods=("get", "delete"))) is None


def test_preflight_detection() -> None:
    assert is_preflight(options())
    assert not is_preflight(GatewayRequest("OPTIONS", "/", headers=(("origin", "x"),)))
    lines = (("origin", "x"), ("access-control-request-method", "GET"))
    assert not is_preflight(GatewayRequest("GET", "/", headers=lines))


def test_allowed_preflight_gets_every_header() -> None:
    response = preflight(CONFIG, options(), 200)
    assert response.status == 200
    assert dict(response.headers) == {
        "Access-Control-Allow-Origin": "https://app.example.com",
        "Access-Control-Allow-Methods": "GET,POST",
        "Access-Control-Allow-Headers": "content-type,x-api-key",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


@pytest.mark.parametrize("request_", [
    options(origin="https://evil.example.com"),
    options(method="DELETE"),
    options(headers="content-type, x-secret"),
])
def test_refused_preflight_has_no_allow_headers(request_: GatewayRequest) -> None:
    response = preflight(CONFIG, request_, 204)
    assert response.status == 204
    assert not any(name.lower().startswith("access-control-") for name, _ in response.headers)


def test_wildcard_subdomains_match_only_subdomains() -> None:
    assert preflight(CONFIG, options(origin="https://a.example.org"), 200).header("access-control-allow-origin")
    assert preflight(CONFIG, options(origin="https://example.org"), 200).header("access-control-allow-origin") is None
    assert preflight(CONFIG, options(origin="http://a.example.org"), 200).header("access-control-allow-origin") is None


def test_star_origin_answers_star_unless_credentials_are_allowed() -> None:
    anyone = Cors(allow_origins=("*",), allow_methods=("*",), allow_headers=("*",))
    answer = preflight(anyone, options(origin="https://x.test", headers="X-Custom"), 204)
    assert answer.header("access-control-allow-origin") == "*"
    assert answer.header("access-control-allow-headers") == "x-custom"
    with_credentials = Cors(allow_origins=("*",), allow_methods=("GET",), allow_credentials=True)
    answer = preflight(with_credentials, options(origin="https://x.test", method="GET", headers=None), 204)
    assert answer.header("access-control-allow-origin") == "https://x.test"
    assert answer.header("access-control-allow-credentials") == "true"


def test_decorate_replaces_the_functions_cors_headers() -> None:
    request = GatewayRequest("GET", "/", headers=(("origin", "https://app.example.com"),))
    response = GatewayResponse(200, [("Access-Control-Allow-Origin", "*"), ("X-Mine", "1")])
    decorate(CONFIG, request, response)
    assert response.headers == [("X-Mine", "1"), ("Access-Control-Allow-Origin", "https://app.example.com"),
                                ("Access-Control-Expose-Headers", "x-request-id")]


def test_decorate_adds_nothing_for_other_origins() -> None:
    response = GatewayResponse(200, [("Access-Control-Allow-Origin", "*")])
    decorate(CONFIG, GatewayRequest("GET", "/", headers=(("origin", "https://other.test"),)), response)
    assert response.headers == []
