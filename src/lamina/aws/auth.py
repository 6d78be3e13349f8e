"""Request authentication when it is on (``LAMINA_AUTH=1``): SigV4 signatures checked against known keys.

Off by default for local use, where any credentials work and clock skew is tolerated. On, a request
must be signed with a known access key (``LAMINA_CREDENTIALS="AKID:SECRET,AKID2:SECRET2"``), within
AWS's 5-minute clock skew. The errors are AWS's: an unknown key is ``UnrecognizedClientException``,
a wrong signature ``InvalidSignatureException`` (both 403).
"""

from __future__ import annotations

from collections.abc import Mapping

from lamina.aws.http import HttpRequest
from lamina.aws.sigv4 import credential_scope, verify
from lamina.errors import AwsError, InvalidSignatureException, UnrecognizedClientException


class Authenticator:
    def __init__(self, credentials: Mapping[str, str], max_skew: float | None = 300.0) -> None:
        self._credentials = dict(credentials)
        self._max_skew = max_skew

    def check(self, request: HttpRequest) -> AwsError | None:
        """None when the request is signed by a known key, else the error to answer."""
        credential = credential_scope(request)
        if credential is None:
            return UnrecognizedClientException(
                "The security token included in the request is invalid: the request is not signed.")
        secret = self._credentials.get(credential.access_key)
        if secret is None:
            return UnrecognizedClientException("The security token included in the request is invalid.")
        if not verify(request, secret, max_skew=self._max_skew):
            return InvalidSignatureException(
                "The request signature we calculated does not match the signature you provided. Check your "
                "AWS Secret Access Key and signing method. Consult the service documentation for details.")
        return None


def parse_credentials(text: str) -> dict[str, str]:
    """``"AKID:SECRET,AKID2:SECRET2"`` as a mapping."""
    pairs = (item.split(":", 1) for item in text.split(",") if ":" in item)
    return {key.strip(): secret.strip() for key, secret in pairs}
