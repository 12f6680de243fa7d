"""The limits both daemons' gRPC servers run with (cachefleet.common.serving), on a real
in-process grpc.aio server: an oversized request and a call past the concurrency limit are
refused at once with RESOURCE_EXHAUSTED, and the server goes on answering."""
from __future__ import annotations

import asyncio

import grpc
import pytest

from cachefleet.common import serving

METHOD = "/test.Echo/Echo"


def identity(data: bytes) -> bytes:
    return data


async def started(release: asyncio.Event, entered: list[bytes] | None = None,
                  **limits) -> tuple[grpc.aio.Server, int]:
    async def echo(request: bytes, context) -> bytes:
        if entered is not None:
            entered.append(request)
        if request == b"wait":
            await release.wait()
        return request

    server = grpc.aio.server(**serving.server_settings(**limits))
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Echo", {
        "Echo": grpc.unary_unary_rpc_method_handler(echo, identity, identity)})])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


def test_every_server_states_its_limits_and_keepalive():
    settings = serving.server_settings()
    options = dict(settings["options"])
    assert settings["maximum_concurrent_rpcs"] == serving.MAX_CONCURRENT_RPCS
    assert options["grpc.max_receive_message_length"] == 4 * serving.MIB
    assert options["grpc.so_reuseport"] == 0 and options["grpc.max_concurrent_streams"] > 0
    assert options["grpc.keepalive_time_ms"] > options["grpc.keepalive_timeout_ms"] > 0
    assert options["grpc.http2.min_ping_interval_without_data_ms"] > 0


def test_an_oversized_request_is_refused_and_the_server_keeps_answering():
    async def scenario():
        server, port = await started(asyncio.Event(), max_receive_bytes=64 * 1024)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                echo = channel.unary_unary(METHOD, request_serializer=identity, response_deserializer=identity)
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await echo(b"x" * (65 * 1024), timeout=5)
                assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert await echo(b"x" * (63 * 1024), timeout=5) == b"x" * (63 * 1024)
        finally:
            await server.stop(0)
    asyncio.run(scenario())


def test_a_call_past_the_concurrency_limit_is_refused_at_once():
    async def scenario():
        release, entered = asyncio.Event(), []
        server, port = await started(release, entered, max_concurrent_rpcs=2)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                echo = channel.unary_unary(METHOD, request_serializer=identity, response_deserializer=identity)
                waiting = [asyncio.ensure_future(echo(b"wait", timeout=10)) for _ in range(2)]
                async with asyncio.timeout(5):
                    while len(entered) < 2:       # both calls are in the server
                        await asyncio.sleep(0.01)
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await echo(b"third", timeout=5)
                assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                release.set()
                assert await asyncio.gather(*waiting) == [b"wait", b"wait"]
                assert await echo(b"again", timeout=5) == b"again"
        finally:
            await server.stop(0)
    asyncio.run(scenario())
