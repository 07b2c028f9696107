"""Checking SigV4 signatures with botocore's own signer: the request is rebuilt with
exactly the headers the client signed and its timestamp, signed again with our key,
and the two signatures compared in constant time. No hand-written SigV4."""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
    r"SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})"
)
MAX_SKEW = 15 * 60  # seconds, as AWS allows


class AwsError(Exception):
    """An error to answer in AWS's shape: its type name, message and HTTP status (the
    signature checks raise it, and so does the server for requests it cannot read)."""

    def __init__(self, aws: str, message: str, status: int = 400):
        super().__init__(message)
        self.aws, self.status = aws, status


def verify(
    method: str, url: str, headers: dict[str, str], body: bytes, key_id: str, secret: str
) -> None:
    """Raise AwsError unless the request is signed with (key_id, secret)."""
    auth = headers.get("authorization")
    if not auth:
        raise AwsError("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
    m = AUTH.fullmatch(auth.strip())
    if not m:
        raise AwsError("IncompleteSignatureException", "Authorization header is malformed")
    client_key, _date, region, service, signed, signature = m.groups()
    if not hmac.compare_digest(client_key, key_id):
        raise AwsError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    stamp = headers.get("x-amz-date", "")
    try:
        at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise AwsError(
            "IncompleteSignatureException", "X-Amz-Date is missing or malformed"
        ) from None
    if abs((datetime.now(UTC) - at).total_seconds()) > MAX_SKEW:
        raise AwsError(
            "InvalidSignatureException",
            "Signature expired: the clock differs by more than 15 minutes",
        )
    names = signed.split(";")
    if "host" not in names or any(n not in headers for n in names):
        raise AwsError("IncompleteSignatureException", "signed headers are missing")
    request = AWSRequest(method=method, url=url, data=body, headers={n: headers[n] for n in names})
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(key_id, secret), service, region)
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request
    )
    if not hmac.compare_digest(expected, signature):
        raise AwsError(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        )
