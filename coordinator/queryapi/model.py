"""ElastiCache's service model as botocore ships it: the shapes every request is parsed by and
every answer is written by, and the HTTP status of each error code.

The model is botocore's own (the one boto3 and aws-cli serialize with), so what we accept and
answer is what those clients send and parse, for every operation, without a hand-written shape.
"""
from __future__ import annotations

import functools
from typing import Any

import botocore.session

from cachefleet.v1 import cache_control_pb2

API_VERSION = "2015-02-02"
XMLNS = f"http://elasticache.amazonaws.com/doc/{API_VERSION}/"
SERVICE = cache_control_pb2.DESCRIPTOR.services_by_name["CacheControl"]

# Codes the model does not list (the protocol's own, and ours): their HTTP status.
PROTOCOL_STATUS: dict[str, int] = {
    "MissingAction": 400,
    "InvalidAction": 400,
    "MissingParameter": 400,
    "InvalidQueryParameter": 400,
    "MalformedQueryString": 400,
    "UnsupportedMediaType": 415,
    "RequestEntityTooLarge": 413,
    "MissingAuthenticationToken": 403,
    "IncompleteSignature": 400,
    "InvalidClientTokenId": 403,
    "SignatureDoesNotMatch": 403,
    "RequestTimeTooSkewed": 403,
    "RequestExpired": 400,
    "AccessDenied": 403,
    "Throttling": 400,
    "InternalFailure": 500,
    "ServiceUnavailable": 503,
}


@functools.cache
def service_model() -> Any:
    return botocore.session.get_session().get_service_model("elasticache")


@functools.cache
def _statuses() -> dict[str, int]:
    model = service_model()
    found = dict(PROTOCOL_STATUS)
    for name in model.shape_names:
        shape = model.shape_for(name)
        error = shape.metadata.get("error")
        if shape.metadata.get("exception") and error:
            found[error.get("code", name)] = int(error.get("httpStatusCode", 400))
    return found


def http_status(code: str) -> int:
    """The status AWS answers an error code with (400 for a code nobody lists)."""
    return _statuses().get(code, 400)


@functools.cache
def implemented() -> frozenset[str]:
    """Operations of the model that CacheControl answers: the Query API's whole surface."""
    return frozenset(method.name for method in SERVICE.methods) & frozenset(service_model().operation_names)


def operation(name: str) -> Any:
    return service_model().operation_model(name)
