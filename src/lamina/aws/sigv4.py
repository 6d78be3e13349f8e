"""AWS Signature Version 4: reading the credential scope, and verifying a signature.

Every request reads the scope (which service, which region), so :func:`credential_scope` uses only
string methods. :func:`verify` runs only when authentication is on; it re-signs the request with
botocore's own signer and compares in constant time, so a signature is valid here exactly when
botocore would have produced it.
"""

from __future__ import annotations

import calendar
import hmac
import time
from typing import NamedTuple
from urllib.parse import parse_qsl, unquote

from lamina.aws.http import HttpRequest

ALGORITHM = "AWS4-HMAC-SHA256"
_AMZ_FORMAT = "%Y%m%dT%H%M%SZ"


class Credential(NamedTuple):
    """What a SigV4 request says about itself. ``signature`` and ``signed_headers`` are as sent."""

    access_key: str
    date: str  # YYYYMMDD of the scope
    region: str
    service: str
    signed_headers: tuple[str, ...] = ()
    signature: str = ""
    presigned: bool = False


def parse_authorization(value: str) -> Credential | None:
    """Parse ``AWS4-HMAC-SHA256 Credential=AKID/20260101/us-west-2/lambda/aws4_request,
    SignedHeaders=host;x-amz-date, Signature=abc``; None if it is not a well-formed SigV4 header."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        return None
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, item = part.strip().partition("=")
        if sep:
            fields[key] = item.strip()
    credential = _scope(fields.get("Credential", ""))
    if credential is None:
        return None
    signed = fields.get("SignedHeaders", "")
    return Credential(*credential, tuple(signed.split(";")) if signed else (), fields.get("Signature", ""))


def _scope(text: str) -> tuple[str, str, str, str] | None:
    # An access key never contains "/", but split from the right anyway: the scope is fixed-shape.
    parts = text.rsplit("/", 4)
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts[:4]):
        return None
    return parts[0], parts[1], parts[2], parts[3]


def credential_scope(request: HttpRequest) -> Credential | None:
    """The credential of an ``Authorization`` header, else of presigned query parameters, else None."""
    header = request.headers.get("authorization")
    if header is not None:
        return parse_authorization(header)
    if "X-Amz-Credential=" not in request.query:
        return None
    params = dict(parse_qsl(request.query, keep_blank_values=True))
    if params.get("X-Amz-Algorithm") != ALGORITHM:
        return None
    credential = _scope(params.get("X-Amz-Credential", ""))
    if credential is None:
        return None
    signed = params.get("X-Amz-SignedHeaders", "")
    return Credential(*credential, tuple(signed.split(";")) if signed else (),
                      params.get("X-Amz-Signature", ""), presigned=True)


def verify(request: HttpRequest, secret_key: str, *, now: float | None = None,
           max_skew: float | None = 300.0) -> bool:
    """True when ``request`` carries a valid SigV4 signature made with ``secret_key``.

    ``now`` is epoch seconds (default: the system clock). ``max_skew`` bounds the distance between
    the signed ``X-Amz-Date`` and ``now`` (AWS allows 5 minutes); None tolerates any skew, which is
    what local use with a stale laptop clock wants. Presigned requests must also be unexpired.
    The session token, if any, is not checked against anything here.
    """
    credential = credential_scope(request)
    if credential is None or not credential.signature or "host" not in credential.signed_headers:
        return False
    if credential.presigned:
        query = [(k, v) for k, v in _query_pairs(request.query) if k != "X-Amz-Signature"]
        amz_date = dict(query).get("X-Amz-Date", "")
    else:
        query = _query_pairs(request.query)
        amz_date = request.headers.get("x-amz-date", "")
    signed_at = _epoch(amz_date)
    if signed_at is None or amz_date[:8] != credential.date:
        return False
    current = time.time() if now is None else now
    if max_skew is not None and abs(current - signed_at) > max_skew and not credential.presigned:
        return False
    if credential.presigned:
        expires = dict(query).get("X-Amz-Expires", "")
        if not expires.isdigit() or (max_skew is not None and current > signed_at + int(expires) + max_skew):
            return False
    expected = _signature(request, credential, secret_key, query, amz_date)
    return hmac.compare_digest(expected.encode(), credential.signature.encode())


def _signature(request: HttpRequest, credential: Credential, secret_key: str,
               query: list[tuple[str, str]], amz_date: str) -> str:
    # botocore is imported here, not at module level: only authenticated servers pay for it.
    from botocore import auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    s3 = credential.service == "s3"
    if credential.presigned:
        signer_cls = auth.S3SigV4QueryAuth if s3 else auth.SigV4QueryAuth
    else:
        signer_cls = auth.S3SigV4Auth if s3 else auth.SigV4Auth
    signer = signer_cls(Credentials(credential.access_key, secret_key), credential.service,
                        credential.region)
    # Only the headers the client signed take part; botocore signs every header it is given.
    # (botocore then reads a signed X-Amz-Content-SHA256 as the payload hash, as AWS does.)
    headers = {name: request.headers.get(name, "") for name in credential.signed_headers}
    url = f"http://{request.headers.get('host', 'localhost')}{request.path}"
    aws_request = AWSRequest(method=request.method, url=url, headers=headers, data=request.body,
                             params=query)
    aws_request.context["timestamp"] = amz_date
    canonical = signer.canonical_request(aws_request)
    return str(signer.signature(signer.string_to_sign(aws_request, canonical), aws_request))


def _query_pairs(query: str) -> list[tuple[str, str]]:
    # Decode without turning "+" into a space: the canonical query string re-encodes every value,
    # and botocore always sends a literal "+" as %2B.
    pairs = []
    for part in query.split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((unquote(key), unquote(value)))
    return pairs


def _epoch(amz_date: str) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(amz_date, _AMZ_FORMAT)))
    except ValueError:
        return None
