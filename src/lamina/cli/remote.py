"""What the client commands (``lamina logs | metrics | cost``) share: which server, and clients for it.

The server is ``--endpoint``, else ``AWS_ENDPOINT_URL``, else the local default
(``LAMINA_HOST``/``LAMINA_PORT``, ``http://127.0.0.1:4566``). Clients are botocore's (already a
dependency), with throwaway credentials unless the environment has real ones.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any


def endpoint(given: str | None) -> str:
    if given:
        return given.rstrip("/")
    if os.environ.get("AWS_ENDPOINT_URL"):
        return os.environ["AWS_ENDPOINT_URL"].rstrip("/")
    host = os.environ.get("LAMINA_HOST", "127.0.0.1")
    return f"http://{host}:{os.environ.get('LAMINA_PORT', '4566')}"


def region(given: str | None) -> str:
    return given or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def client(service: str, url: str, region_name: str) -> Any:
    # Imported here: botocore's loader costs a few hundred milliseconds the other commands never need.
    import botocore.session
    from botocore.config import Config

    session = botocore.session.get_session()
    return session.create_client(
        service, endpoint_url=url, region_name=region_name,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        config=Config(retries={"max_attempts": 2}))


def signed_headers(method: str, url: str, body: bytes | None, region_name: str,
                   headers: dict[str, str] | None = None) -> dict[str, str]:
    """``headers`` plus a SigV4 signature of the request (service ``lambda``) with the environment's
    credentials, for Lamina's own endpoints that a server with authentication on checks."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url, data=body or b"", headers=dict(headers or {}))
    credentials = Credentials(os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                              os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
                              os.environ.get("AWS_SESSION_TOKEN"))
    SigV4Auth(credentials, "lambda", region_name).add_auth(request)
    return dict(request.headers.items())


def get_json(url: str) -> Any:
    """GET ``url`` and decode its JSON; raises RuntimeError with the server's message on an error."""
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        with error:
            raise RuntimeError(json.loads(error.read() or b"{}").get("message", str(error))) from None
    except OSError as error:
        raise RuntimeError(f"cannot reach Lamina at {url}: {error}") from None
