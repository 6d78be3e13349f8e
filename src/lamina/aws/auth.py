"""Request authentication when it is on (``LAMINA_AUTH=1``): SigV4 signatures checked against known keys.

Off by default for local use, where any credentials work and clock skew is tolerated. On, a request
must be signed with a known access key (``LAMINA_CREDENTIALS="AKID:SECRET,AKID2:SECRET2:ACCOUNT"``),
within AWS's 5-minute clock skew. A key may name the account it belongs to (default: Lamina's own);
calls from another account need a resource policy that allows them, as on AWS. The errors are
AWS's: an unknown key is ``UnrecognizedClientException``,
a wrong signature ``InvalidSignatureException`` (both 403).
"""

from __future__ import annotations

from collections.abc import Mapping

from lamina.aws.http import HttpRequest
from lamina.aws.sigv4 import credential_scope, verify
from lamina.errors import AwsError, InvalidSignatureException, UnrecognizedClientException


class Authenticator:
    def __init__(self, credentials: Mapping[str, str], max_skew: float | None = 300.0,
                 accounts: Mapping[str, str] | None = None) -> None:
        self._credentials = dict(credentials)
        self._accounts = dict(accounts or {})
        self._max_skew = max_skew

    def account_of(self, access_key: str, default: str) -> str:
        """The account a (verified) key belongs to."""
        return self._accounts.get(access_key, default)

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
    """The secrets of ``"AKID:SECRET,AKID2:SECRET2:123456789012"`` by access key."""
    return {key: secret for key, secret, _account in _entries(text)}


def credential_accounts(text: str) -> dict[str, str]:
    """The accounts keys of ``LAMINA_CREDENTIALS`` name (keys without one belong to Lamina's)."""
    return {key: account for key, _secret, account in _entries(text) if account}


def authenticator(text: str) -> Authenticator:
    """An authenticator for ``LAMINA_CREDENTIALS`` (each key with its secret and optional account)."""
    entries = _entries(text)
    return Authenticator({key: secret for key, secret, _ in entries},
                         accounts={key: account for key, _, account in entries if account})


def _entries(text: str) -> list[tuple[str, str, str]]:
    found = []
    for item in text.split(","):
        parts = [part.strip() for part in item.split(":")]
        if len(parts) >= 2 and parts[0]:
            found.append((parts[0], parts[1], parts[2] if len(parts) >= 3 else ""))
    return found
