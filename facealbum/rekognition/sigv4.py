"""Checking SigV4 signatures with botocore's own signer: the request is rebuilt with
exactly the headers the client signed and its timestamp, signed again with our key,
and the two signatures compared in constant time. No hand-written SigV4.

The check is in two steps, so that a body is never read for a request that cannot be
authentic: :func:`check_headers` looks only at the headers (a well-formed
``Authorization`` with our key id, a fresh ``X-Amz-Date``, a scope of
``<date>/<region>/rekognition/aws4_request`` with a region we accept, and the headers
AWS requires signed); :func:`verify` then hashes the body and checks the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
    r"SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})"
)
MAX_SKEW = 15 * 60  # seconds, as AWS allows
SERVICE = "rekognition"
# what AWS requires a JSON-protocol request to sign: which operation, on what, when,
# in what encoding (a signature over `host` alone could be replayed as any operation)
MUST_SIGN = ("host", "x-amz-date", "x-amz-target", "content-type")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")


class AwsError(Exception):
    """An error to answer in AWS's shape: its type name, message and HTTP status (the
    signature checks raise it, and so does the server for requests it cannot read)."""

    def __init__(self, aws: str, message: str, status: int = 400):
        super().__init__(message)
        self.aws, self.status = aws, status


@dataclass
class Signed:
    """What :func:`check_headers` read from a request's headers."""

    region: str
    signed_headers: list[str]
    signature: str
    stamp: str  # X-Amz-Date


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidSignatureException", message)


def check_headers(
    headers: dict[str, str],
    key_id: str,
    regions: Collection[str],
    now: datetime | None = None,
) -> Signed:
    """Raise AwsError unless the headers (lower-case names) could belong to a request
    signed with ``key_id`` for Rekognition in one of ``regions``; nothing here needs
    the body."""
    auth = headers.get("authorization")
    if not auth:
        raise AwsError("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
    m = AUTH.fullmatch(auth.strip())
    if not m:
        raise AwsError("IncompleteSignatureException", "Authorization header is malformed")
    client_key, date, region, service, signed, signature = m.groups()
    if not hmac.compare_digest(client_key, key_id):
        raise AwsError(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    if service != SERVICE:
        raise _invalid(f"Credential should be scoped to correct service: '{SERVICE}'.")
    if region not in regions:
        raise _invalid(
            f"Credential should be scoped to a valid region: {region!r} is not one this "
            f"endpoint accepts ({', '.join(sorted(regions))}; FACEALBUM_REKOGNITION_REGIONS)."
        )
    stamp = headers.get("x-amz-date", "")
    try:
        at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise AwsError(
            "IncompleteSignatureException", "X-Amz-Date is missing or malformed"
        ) from None
    if date != stamp[:8]:
        raise _invalid(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{date}' != '{stamp[:8]}'"
        )
    if abs(((now or datetime.now(UTC)) - at).total_seconds()) > MAX_SKEW:
        raise _invalid("Signature expired: the clock differs by more than 15 minutes")
    names = signed.split(";")
    for name in MUST_SIGN:
        if name not in names:
            raise _invalid(f"'{name}' must be a 'SignedHeader' in the AWS Authorization.")
    if any(n not in headers for n in names):
        raise AwsError("IncompleteSignatureException", "signed headers are missing")
    return Signed(region, names, signature, stamp)


def verify(
    method: str, url: str, headers: dict[str, str], body: bytes, signed: Signed, key_id: str,
    secret: str,
) -> None:  # fmt: skip
    """Raise AwsError unless the request, body included, is signed with (key_id,
    secret). The body's SHA-256 is always computed here: a signed
    ``X-Amz-Content-SHA256`` must equal it (``UNSIGNED-PAYLOAD`` is refused), since
    botocore's signer would otherwise take the header's word for the body."""
    digest = hashlib.sha256(body).hexdigest()
    claimed = headers.get("x-amz-content-sha256")
    if claimed is not None and not hmac.compare_digest(claimed, digest):
        raise _invalid(
            "The provided 'x-amz-content-sha256' header does not match what was computed "
            "(UNSIGNED-PAYLOAD is not accepted here)."
        )
    # botocore (~0.1 s to import) on the first signed request, not at a server's start
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    names = signed.signed_headers
    request = AWSRequest(method=method, url=url, data=body, headers={n: headers[n] for n in names})
    request.context["timestamp"] = signed.stamp
    signer = SigV4Auth(Credentials(key_id, secret), SERVICE, signed.region)
    canonical = signer.canonical_request(request)
    if canonical.rsplit("\n", 1)[-1] != digest:  # the payload hash the signature covers
        raise _invalid("The request's payload hash is not the body's.")
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, signed.signature):
        raise _invalid(
            "The request signature we calculated does not match the signature you provided."
        )
