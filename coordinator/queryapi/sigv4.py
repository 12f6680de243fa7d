"""AWS Signature Version 4, checked on the server side: the signature a client made with its
secret access key is made again from the request as received, and compared.

What is signed is the canonical request (method, path, sorted query, the headers the client
named, the SHA-256 of the body), scoped to a day, a region and the service `elasticache`. A
request older or newer than 15 minutes is refused whatever its signature, so a captured
request cannot be replayed later. A presigned URL carries the signature and its claims in the
query string (X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders, -Signature, as
botocore's SigV4QueryAuth writes them): it is good from its signing time until X-Amz-Expires
seconds after it (a week at most), and refused as RequestExpired after that.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote_plus

from coordinator.queryapi.errors import QueryError

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "elasticache"
MAX_SKEW = dt.timedelta(minutes=15)
AMZ_DATE = "%Y%m%dT%H%M%SZ"
MAX_EXPIRES = 7 * 24 * 3600
PRESIGNED = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
             "X-Amz-Signature")
QUERY_AUTH = frozenset(PRESIGNED + ("X-Amz-Security-Token",))   # a presigned URL's; never an operation's


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
    """What an Authorization header or a presigned URL claims: whose key, which scope, which
    headers, what signature; a presigned URL also when it was signed and for how long."""
    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str = ""               # a presigned URL's X-Amz-Date (a header's otherwise)
    expires: int | None = None       # a presigned URL's X-Amz-Expires; None for the header

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
    return Credential(*_scope(parts["Credential"]), tuple(parts["SignedHeaders"].split(";")), parts["Signature"])


def parse_presigned(query: dict[str, str]) -> Credential:
    """The X-Amz-* parameters of a presigned URL's query string."""
    missing = [k for k in PRESIGNED if not query.get(k)]
    if missing:
        raise incomplete(f"A presigned request requires the query parameter {missing[0]}.")
    if query["X-Amz-Algorithm"] != ALGORITHM:
        raise incomplete(f"Unsupported X-Amz-Algorithm {query['X-Amz-Algorithm']!r}: sign with {ALGORITHM}.")
    expires = query["X-Amz-Expires"]
    if not expires.isdigit() or not 1 <= int(expires) <= MAX_EXPIRES:
        raise QueryError("InvalidQueryParameter", f"X-Amz-Expires must be a number of seconds from 1 to "
                         f"{MAX_EXPIRES} (a week), not {expires!r}.")
    return Credential(*_scope(query["X-Amz-Credential"]), tuple(query["X-Amz-SignedHeaders"].split(";")),
                      query["X-Amz-Signature"], amz_date=query["X-Amz-Date"], expires=int(expires))


def credential_of(request: Received) -> Credential:
    """The signature's claims: from the Authorization header, or from the query string of a
    presigned URL (one or the other, not both)."""
    query = dict(parse_qsl(request.query, keep_blank_values=True)) if "X-Amz-" in request.query else {}
    if not QUERY_AUTH.intersection(query):
        return parse_authorization(request.header("authorization"))
    if request.header("authorization"):
        raise incomplete("Only one auth mechanism allowed: the Authorization header or the X-Amz-* query "
                         "parameters of a presigned URL, not both.")
    return parse_presigned(query)


def _scope(credential: str) -> tuple[str, str, str, str, str]:
    """AK/DATE/REGION/SERVICE/aws4_request, split."""
    scope = credential.split("/")
    if len(scope) != 5:
        raise incomplete(f"Credential must have exactly 5 slash-delimited elements: {credential!r}.")
    return scope[0], scope[1], scope[2], scope[3], scope[4]


def canonical_query(query: str, presigned: bool = False) -> str:
    """The sorted, re-encoded query; a presigned URL's without its own X-Amz-Signature."""
    pairs = []
    for item in query.split("&") if query else []:
        key, _, value = item.partition("=")
        if presigned and unquote_plus(key) == "X-Amz-Signature":
            continue
        pairs.append((quote(unquote_plus(key), safe="-_.~"), quote(unquote_plus(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_request(request: Received, signed_headers: tuple[str, ...], presigned: bool = False) -> str:
    headers = "".join(f"{name}:{','.join(' '.join(v.split()) for v in request.headers.get(name, []))}\n"
                      for name in signed_headers)
    return "\n".join([request.method, quote(request.path or "/", safe="/~"), canonical_query(request.query, presigned),
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


def request_time(request: Received, credential: Credential) -> tuple[str, dt.datetime]:
    """When the request was signed: its X-Amz-Date header, or a presigned URL's parameter."""
    amz_date = credential.amz_date if credential.expires is not None else request.header("x-amz-date")
    if not amz_date:
        raise incomplete("Authorization header requires existence of an 'X-Amz-Date' header.")
    try:
        return amz_date, dt.datetime.strptime(amz_date, AMZ_DATE).replace(tzinfo=dt.UTC)
    except ValueError:
        raise incomplete(f"X-Amz-Date {amz_date!r} is not of the form YYYYMMDDTHHMMSSZ.") from None


def check_time(amz_date: str, when: dt.datetime, credential: Credential, now: dt.datetime) -> None:
    """A signed request is good for 15 minutes either side of now; a presigned URL from its
    signing time (15 minutes of clock skew allowed) until it expires."""
    if credential.expires is None:
        if abs(now - when) > MAX_SKEW:
            raise QueryError("RequestTimeTooSkewed", f"Signature not yet current or expired: the request was signed "
                             f"at {amz_date}, it is now {now.strftime(AMZ_DATE)}; the limit is 15 minutes.")
        return
    if when - now > MAX_SKEW:
        raise QueryError("RequestTimeTooSkewed", f"Signature not yet current: the URL was signed at {amz_date}, "
                         f"it is now {now.strftime(AMZ_DATE)}.")
    if now > when + dt.timedelta(seconds=credential.expires):
        raise QueryError("RequestExpired", f"Request has expired: the URL was signed at {amz_date} for "
                         f"{credential.expires} seconds, it is now {now.strftime(AMZ_DATE)}.")


def verify(request: Received, credential: Credential, key: Callable[[Credential], bytes], now: dt.datetime) -> None:
    """Nothing when credential's signature is the one the scope key makes of request now; else
    the refusal AWS gives. key(credential) is asked for only once the scope is found valid."""
    amz_date, when = request_time(request, credential)
    check_time(amz_date, when, credential, now)
    if credential.service != SERVICE or credential.terminator != "aws4_request" or credential.date != amz_date[:8]:
        raise QueryError("SignatureDoesNotMatch", f"Credential should be scoped to a valid date, a region and the "
                         f"service '{SERVICE}', ending in aws4_request: got {credential.scope}.")
    if "host" not in credential.signed_headers:
        raise QueryError("SignatureDoesNotMatch", "The Host header must be signed.")
    canonical = canonical_request(request, credential.signed_headers, credential.expires is not None)
    expected = signature(key(credential), amz_date, credential, canonical)
    if not hmac.compare_digest(expected, credential.signature):
        raise QueryError("SignatureDoesNotMatch", "The request signature we calculated does not match the "
                         "signature you provided. Check your AWS Secret Access Key and signing method.")
