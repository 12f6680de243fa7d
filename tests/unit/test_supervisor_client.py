"""The agent's XML-RPC client of supervisord, against an in-process XML-RPC server on a unix
socket: calls go through, supervisor's fault codes become typed errors, a silent server
times out."""
from __future__ import annotations

import socket
import socketserver
import threading
import time
import xmlrpc.client
from xmlrpc.server import SimpleXMLRPCDispatcher, SimpleXMLRPCRequestHandler

import pytest
from supervisor.xmlrpc import Faults

from nodeagent import supervisor as sup


class _UnixXMLRPCServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer, SimpleXMLRPCDispatcher):
    daemon_threads = True
    logRequests = False

    def __init__(self, path: str) -> None:
        socketserver.UnixStreamServer.__init__(self, path, _Handler)
        SimpleXMLRPCDispatcher.__init__(self, allow_none=True)


class _Handler(SimpleXMLRPCRequestHandler):
    disable_nagle_algorithm = False     # a TCP option; this is a unix socket


def _bad_name(name: str) -> None:
    raise xmlrpc.client.Fault(Faults.BAD_NAME, f"BAD_NAME: {name}")


@pytest.fixture
def server(tmp_path):
    path = tmp_path / "supervisor.sock"
    rpc = _UnixXMLRPCServer(str(path))
    rpc.register_function(lambda: {"statename": "RUNNING"}, "supervisor.getState")
    rpc.register_function(_bad_name, "supervisor.getProcessInfo")
    thread = threading.Thread(target=rpc.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield path
    rpc.shutdown()
    rpc.server_close()


def test_calls_answer_over_the_unix_socket_and_faults_become_typed_errors(server):
    client = sup.SupervisorClient(server, timeout=5)
    try:
        assert client.call("supervisor.getState") == {"statename": "RUNNING"}
        with pytest.raises(sup.BadName) as caught:
            client.call("supervisor.getProcessInfo", "nope")
        assert caught.value.fault_code == Faults.BAD_NAME and "nope" in str(caught.value)
        client.close()        # the next call connects again
        assert client.call("supervisor.getState")["statename"] == "RUNNING"
    finally:
        client.close()


@pytest.mark.parametrize("code, error", [
    (Faults.SHUTDOWN_STATE, sup.ShuttingDown), (Faults.BAD_NAME, sup.BadName),
    (Faults.SPAWN_ERROR, sup.SpawnError), (Faults.ALREADY_STARTED, sup.AlreadyStarted),
    (Faults.NOT_RUNNING, sup.NotRunning), (Faults.ALREADY_ADDED, sup.AlreadyAdded),
    (Faults.STILL_RUNNING, sup.StillRunning), (Faults.CANT_REREAD, sup.CantReread),
])
def test_each_supervisor_fault_has_its_exception(code, error):
    raised = sup.error_from_fault(xmlrpc.client.Fault(code, "x"))
    assert type(raised) is error and raised.fault_code == code


def test_an_unknown_fault_is_a_plain_supervisor_error_with_its_code():
    raised = sup.error_from_fault(xmlrpc.client.Fault(Faults.UNKNOWN_METHOD, "UNKNOWN_METHOD"))
    assert type(raised) is sup.SupervisorError and raised.fault_code == Faults.UNKNOWN_METHOD


def test_a_supervisord_that_never_answers_is_unavailable_after_the_timeout(tmp_path):
    path = tmp_path / "hung.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as hung:
        hung.bind(str(path))
        hung.listen(1)         # connections queue; nothing ever reads or answers
        client = sup.SupervisorClient(path, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(sup.SupervisorUnavailable):
            client.call("supervisor.getState")
        assert time.monotonic() - started < 5
        client.close()


def test_no_socket_is_unavailable(tmp_path):
    with pytest.raises(sup.SupervisorUnavailable):
        sup.SupervisorClient(tmp_path / "absent.sock", timeout=1).call("supervisor.getState")
