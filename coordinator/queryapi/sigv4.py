"""AWS Signature Version 4, checked on the server side: the signature a client made with its
secret access key is made again from the request as received, and compared.

What is signed is the canonical request (method, path, sorted query, the headers the client
named, the SHA-256 of the body), scoped to a day, a region and the service `elasticache`. A
request older or newer than 15 minutes is refused whatever its signature, so a captured
request cannot be replayed later.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, unquote_plus

from coordinator.queryapi.errors import QueryError

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "elasticache"
MAX_SKEW = dt.timedelta(minutes=15)
AMZ_DATE = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Received:
    """A request as it came: what its signature covers."""
    method: str
    path: str                        # raw, as on the request line (no query)
    query: str                       # raw query string
    headers: dict[str, list[str]]    # lower-case name -> values in order
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class Credential:
    """What an Authorization header claims: whose key, which scope, which headers, what signature."""
    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


def incomplete(message: str) -> QueryError:
    return QueryError("IncompleteSignature", message)


def parse_authorization(header: str | None) -> Credential:
    """The parts of `AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/aws4_request,
    SignedHeaders=a;b, Signature=hex`; MissingAuthenticationToken when there is none."""
    if not header:
        raise QueryError("MissingAuthenticationToken", "Request is missing Authentication Token")
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise incomplete(f"Unsupported signature algorithm {algorithm!r}: sign with {ALGORITHM} (SigV4).")
    parts = {}
    for item in rest.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts[key] = value.strip()
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not parts.get(k)]
    if missing:
        raise incomplete(f"Authorization header requires '{missing[0]}' parameter. Authorization={header}")
    scope = parts["Credential"].split("/")
    if len(scope) != 5:
        raise incomplete(f"Credential must have exactly 5 slash-delimited elements: {parts['Credential']!r}.")
    return Credential(scope[0], scope[1], scope[2], scope[3], scope[4],
                      tuple(parts["SignedHeaders"].split(";")), parts["Signature"])


def canonical_query(query: str) -> str:
    pairs = []
    for item in query.split("&") if query else []:
        key, _, value = item.partition("=")
        pairs.append((quote(unquote_plus(key), safe="-_.~"), quote(unquote_plus(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_request(request: Received, signed_headers: tuple[str, ...]) -> str:
    headers = "".join(f"{name}:{','.join(' '.join(v.split()) for v in request.headers.get(name, []))}\n"
                      for name in signed_headers)
    return "\n".join([request.method, quote(request.path or "/", safe="/~"), canonical_query(request.query),
                      headers, ";".join(signed_headers), hashlib.sha256(request.body).hexdigest()])


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret: str, credential: Credential) -> bytes:
    """The key of credential's scope (a day, a region, a service): four HMACs from the secret."""
    key = _hmac(f"AWS4{secret}".encode(), credential.date)
    for part in (credential.region, credential.service, credential.terminator):
        key = _hmac(key, part)
    return key


def signature(key: bytes, amz_date: str, credential: Credential, canonical: str) -> str:
    to_sign = "\n".join([ALGORITHM, amz_date, credential.scope, hashlib.sha256(canonical.encode()).hexdigest()])
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class SigningKeys:
    """Scope keys already derived, by the secret's ciphertext and the scope: a request then costs
    one HMAC, not a decryption and five. By ciphertext, so that nothing here outlives the key's
    record (read from the store for every request: a deleted key is refused at once); at most
    `size` of them, the least recently used dropped first."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._keys: OrderedDict[tuple[str, str], bytes] = OrderedDict()

    def get(self, ciphertext: str, credential: Credential, secret: Callable[[], str | None]) -> bytes | None:
        """The scope key for credential; None when secret() gives none (not this coordinator's)."""
        cache_key = (ciphertext, credential.scope)
        key = self._keys.get(cache_key)
        if key is not None:
            self._keys.move_to_end(cache_key)
            return key
        clear = secret()
        if clear is None:
            return None
        key = self._keys[cache_key] = signing_key(clear, credential)
        if len(self._keys) > self._size:
            self._keys.popitem(last=False)
        return key


def request_time(request: Received) -> tuple[str, dt.datetime]:
    amz_date = request.header("x-amz-date")
    if not amz_date:
        raise incomplete("Authorization header requires existence of an 'X-Amz-Date' header.")
    try:
        return amz_date, dt.datetime.strptime(amz_date, AMZ_DATE).replace(tzinfo=dt.UTC)
    except ValueError:
        raise incomplete(f"X-Amz-Date {amz_date!r} is not of the form YYYYMMDDTHHMMSSZ.") from None


def verify(request: Received, credential: Credential, key: Callable[[Credential], bytes], now: dt.datetime) -> None:
    """Nothing when credential's signature is the one the scope key makes of request now; else
    the refusal AWS gives. key(credential) is asked for only once the scope is found valid."""
    amz_date, when = request_time(request)
    if abs(now - when) > MAX_SKEW:
        raise QueryError("RequestTimeTooSkewed", f"Signature not yet current or expired: the request was signed at "
                         f"{amz_date}, it is now {now.strftime(AMZ_DATE)}; the limit is 15 minutes.")
    if credential.service != SERVICE or credential.terminator != "aws4_request" or credential.date != amz_date[:8]:
        raise QueryError("SignatureDoesNotMatch", f"Credential should be scoped to a valid date, a region and the "
                         f"service '{SERVICE}', ending in aws4_request: got {credential.scope}.")
    if "host" not in credential.signed_headers:
        raise QueryError("SignatureDoesNotMatch", "The Host header must be signed.")
    expected = signature(key(credential), amz_date, credential, canonical_request(request, credential.signed_headers))
    if not hmac.compare_digest(expected, credential.signature):
        raise QueryError("SignatureDoesNotMatch", "The request signature we calculated does not match the "
                         "signature you provided. Check your AWS Secret Access Key and signing method.")
