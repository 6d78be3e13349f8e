"""SigV4: scope parsing (hypothesis) and verification against botocore's own signer."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given
from hypothesis import strategies as st

from lamina.aws.http import HttpRequest
from lamina.aws.sigv4 import Credential, credential_scope, parse_authorization, verify

HEADER = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-west-2/lambda/aws4_request, "
          "SignedHeaders=host;x-amz-date, Signature=abc123")


def test_parse_authorization() -> None:
    assert parse_authorization(HEADER) == Credential("AKIDEXAMPLE", "20260101", "us-west-2", "lambda",
                                                     ("host", "x-amz-date"), "abc123")


def test_not_sigv4() -> None:
    assert parse_authorization("AWS AKID:signature") is None
    assert parse_authorization("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-west-2/lambda") is None
    assert parse_authorization("") is None
    assert credential_scope(HttpRequest("GET", "/", "X-Amz-Credential=x")) is None


_token = st.text(alphabet=st.characters(whitelist_categories=("Lu", "Ll", "Nd"), max_codepoint=127),
                 min_size=1, max_size=20)


@given(access_key=_token, date=st.from_regex(r"\d{8}", fullmatch=True),
       region=st.from_regex(r"[a-z]{2}-[a-z]+-\d", fullmatch=True), service=_token,
       headers=st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True), min_size=1, max_size=6),
       signature=st.from_regex(r"[0-9a-f]{64}", fullmatch=True), space=st.sampled_from(["", " ", "  "]))
def test_parse_authorization_roundtrip(access_key: str, date: str, region: str, service: str,
                                       headers: list[str], signature: str, space: str) -> None:
    value = (f"AWS4-HMAC-SHA256 Credential={access_key}/{date}/{region}/{service}/aws4_request,{space}"
             f"SignedHeaders={';'.join(headers)},{space}Signature={signature}")
    expected = Credential(access_key, date, region, service, tuple(headers), signature)
    assert parse_authorization(value) == expected


@given(st.text(max_size=200))
def test_parse_authorization_never_raises(value: str) -> None:
    result = parse_authorization(value)
    assert result is None or result.service


@given(st.text(max_size=100), st.text(max_size=100))
def test_credential_scope_never_raises(header: str, query: str) -> None:
    credential_scope(HttpRequest("GET", "/", query, {"authorization": header}))
    credential_scope(HttpRequest("GET", "/", "X-Amz-Credential=" + query))


# --- verification ------------------------------------------------------------------------------------

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
URL = "http://127.0.0.1:4566/2015-03-31/functions/my%3Afn/invocations?Qualifier=%24LATEST&a=b%20c"


def _signed(body: bytes = b'{"k": 1}', *, presign: bool = False) -> HttpRequest:
    """A request as boto3 sends it: signed by botocore, then read back off the wire. (Presigned
    requests get no body: botocore's presigner would move a body into the query.)"""
    aws = AWSRequest(method="POST", url=URL, data=body,
                     headers={"X-Amz-Invocation-Type": "Event", "Content-Type": "application/json"})
    credentials = Credentials("AKIDEXAMPLE", SECRET, "session-token")
    signer = SigV4QueryAuth(credentials, "lambda", "us-west-2", 300) if presign else \
        SigV4Auth(credentials, "lambda", "us-west-2")
    signer.add_auth(aws)
    parts = urlsplit(aws.url)
    headers = {name.lower(): str(value) for name, value in aws.headers.items()}
    headers["host"] = parts.netloc
    return HttpRequest("POST", parts.path, parts.query, headers, body)


def test_credential_scope_from_header_and_presigned_query() -> None:
    assert credential_scope(_signed()) is not None
    scope = credential_scope(_signed(b"", presign=True))
    assert scope is not None and scope.presigned
    assert (scope.access_key, scope.region, scope.service) == ("AKIDEXAMPLE", "us-west-2", "lambda")


def test_verify_accepts_what_botocore_signed() -> None:
    assert verify(_signed(), SECRET)
    assert verify(_signed(b""), SECRET)


def test_verify_rejects_tampering() -> None:
    request = _signed()
    assert not verify(request, "wrong-secret")
    other_body = HttpRequest(request.method, request.path, request.query, request.headers, b"{}")
    assert not verify(other_body, SECRET)
    assert not verify(HttpRequest(request.method, request.path, "Qualifier=1", request.headers, request.body),
                      SECRET)
    changed = {**request.headers, "x-amz-invocation-type": "RequestResponse"}
    assert not verify(HttpRequest(request.method, request.path, request.query, changed, request.body), SECRET)
    unsigned = {k: v for k, v in request.headers.items() if k != "authorization"}
    without_auth = HttpRequest(request.method, request.path, request.query, unsigned, request.body)
    assert not verify(without_auth, SECRET)


def test_clock_skew() -> None:
    request = _signed()
    later = time.time() + 3600
    assert not verify(request, SECRET, now=later)
    assert verify(request, SECRET, now=later, max_skew=None)
    assert verify(request, SECRET, now=time.time() + 60)


def test_verify_presigned() -> None:
    request = _signed(b"", presign=True)
    assert "authorization" not in request.headers
    assert verify(request, SECRET)
    assert not verify(request, SECRET, now=time.time() + 300 + 301)  # expired (300 s) beyond the skew
    assert not verify(request, "wrong-secret")
