"""Server interceptors that admit or refuse a call before its servicer runs share this: the
handler rebuilt so that `admit(context)` is awaited first (it aborts the call to refuse it)."""
from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

Admit = Callable[[grpc.aio.ServicerContext], Awaitable[None]]


def guarded(handler: Any, admit: Admit) -> Any:
    """handler (unary or server-streaming) behind admit; None for the shapes our services do not
    have (streaming requests), which are then not served."""
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(_unary(handler.unary_unary, admit),
                                                   handler.request_deserializer, handler.response_serializer)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(_stream(handler.unary_stream, admit),
                                                    handler.request_deserializer, handler.response_serializer)
    return None


def _unary(inner: Callable[..., Any], admit: Admit) -> Callable[..., Awaitable[Any]]:
    async def admitted(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await admit(context)
        return await inner(request, context)
    return admitted


def _stream(inner: Callable[..., Any], admit: Admit) -> Callable[..., AsyncIterator[Any]]:
    async def admitted(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        await admit(context)
        result = inner(request, context)
        if inspect.isasyncgen(result):
            async for item in result:
                yield item
        else:                       # a handler that writes with context.write()
            await result
    return admitted
