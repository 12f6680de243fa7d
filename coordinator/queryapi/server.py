"""The Query API's HTTP(S) server, in the coordinator's event loop (aiohttp).

It reads a request whole (at most 1 MiB), takes its parameters from the query string and, for
a POST, from the form-encoded body, and hands them to the dispatcher; everything it answers,
refusals of malformed requests included, is AWS's XML. HTTPS with the coordinator's own
certificate from the fleet CA; plaintext HTTP only in a fleet started with --insecure.
"""
from __future__ import annotations

import ssl
import uuid
from urllib.parse import parse_qsl

import structlog
from aiohttp import web

from cachefleet.common.tls.files import CredentialFiles
from coordinator.queryapi import answers
from coordinator.queryapi.dispatch import Dispatcher
from coordinator.queryapi.errors import QueryError
from coordinator.queryapi.sigv4 import Received

log = structlog.get_logger("queryapi")

MAX_BODY = 1 << 20
FORM = "application/x-www-form-urlencoded"


def server_ssl(files: CredentialFiles) -> ssl.SSLContext:
    """TLS with the coordinator's certificate; clients are not asked for one (SigV4 names them)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert, files.key)
    return context


def split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--query-api-listen wants HOST:PORT, got {listen!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _xml(status: int, body: str, request_id: str) -> web.Response:
    return web.Response(status=status, text=body, content_type="text/xml",
                        headers={"x-amzn-RequestId": request_id})


def _refusal(refusal: QueryError) -> web.Response:
    request_id = str(uuid.uuid4())
    log.info("query refused", code=refusal.code, message=refusal.message, request_id=request_id)
    status, body = answers.error(refusal.code, refusal.message, request_id)
    return _xml(status, body, request_id)


def form_params(query: str, body: bytes, content_type: str) -> dict[str, str]:
    """The request's parameters: the query string's and a form body's; a name given twice is refused."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if body:
        if content_type != FORM:
            raise QueryError("UnsupportedMediaType", f"The body must be {FORM} (the Query protocol), "
                             f"not {content_type or 'untyped'}.")
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise QueryError("MalformedQueryString", "The body is not UTF-8.") from None
        pairs += parse_qsl(text, keep_blank_values=True)
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise QueryError("InvalidParameterValue", f"The parameter {key} is given more than once.")
        params[key] = value
    return params


class QueryApiServer:
    def __init__(self, dispatcher: Dispatcher, listen: str, tls: CredentialFiles | None) -> None:
        self._dispatcher = dispatcher
        self._host, self._port = split_listen(listen)
        self._tls = tls
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> int:
        answers.prepare()
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port,
                           ssl_context=server_ssl(self._tls) if self._tls is not None else None)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        log.info("query api serving", listen=f"{self._host}:{self.port}", tls=self._tls is not None)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            if request.method not in ("GET", "POST"):
                raise QueryError("InvalidAction", f"The Query API answers GET and POST, not {request.method}.")
            if (request.content_length or 0) > MAX_BODY:
                raise QueryError("RequestEntityTooLarge", f"The request body is over {MAX_BODY} bytes.")
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise QueryError("RequestEntityTooLarge", f"The request body is over {MAX_BODY} bytes.") from None
            query = request.rel_url.raw_query_string
            params = form_params(query, body, request.content_type if body else "")
        except QueryError as refusal:
            return _refusal(refusal)
        headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        received = Received(request.method, request.raw_path.split("?", 1)[0], query, headers, body)
        answer = await self._dispatcher.answer(received, params, request.remote or "")
        return _xml(answer.status, answer.body, answer.request_id)
