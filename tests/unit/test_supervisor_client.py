"""The agent's XML-RPC client of supervisord, against an in-process XML-RPC server on a unix
socket: calls go through, supervisor's fault codes become typed errors, a silent server
times out."""
from __future__ import annotations

import asyncio
import socket
import socketserver
import threading
import time
import xmlrpc.client
from xmlrpc.server import SimpleXMLRPCDispatcher, SimpleXMLRPCRequestHandler

import pytest
from supervisor.xmlrpc import Faults

from nodeagent import supervisor as sup
from nodeagent.layout import StateDir


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


class SimulatedSupervisord:
    """A simulated supervisord's update calls: the programs on 'disk' against the groups it
    runs; a stopped program takes STOP_S to exit, as an engine on SIGTERM does."""

    STOP_S = 0.2

    def __init__(self, running: set[str]) -> None:
        self.files = set(running)
        self.groups = {name: "RUNNING" for name in running}
        self.stopped_at: dict[str, float] = {}
        self.reloads = 0
        self.lock = threading.Lock()

    def register(self, rpc: _UnixXMLRPCServer) -> None:
        for name in ("reloadConfig", "stopProcessGroup", "removeProcessGroup", "addProcessGroup",
                     "getAllProcessInfo"):
            rpc.register_function(getattr(self, name), f"supervisor.{name}")

    def reloadConfig(self):   # noqa: N802 - supervisord's method names
        with self.lock:
            self.reloads += 1
            return [[sorted(self.files - set(self.groups)), [], sorted(set(self.groups) - self.files)]]

    def stopProcessGroup(self, name, wait):   # noqa: N802
        assert wait is False, "a stop must not hold the single XML-RPC transport for a second"
        with self.lock:
            self.stopped_at[name] = time.monotonic() + self.STOP_S
        return []

    def _state(self, name: str) -> str:
        due = self.stopped_at.get(name)
        return "STOPPED" if due is not None and time.monotonic() >= due else self.groups[name]

    def getAllProcessInfo(self):   # noqa: N802
        with self.lock:
            return [{"name": n, "group": n, "statename": self._state(n)} for n in self.groups]

    def removeProcessGroup(self, name):   # noqa: N802
        with self.lock:
            if self._state(name) != "STOPPED":
                raise xmlrpc.client.Fault(Faults.STILL_RUNNING, f"STILL_RUNNING: {name}")
            del self.groups[name]
        return True

    def addProcessGroup(self, name):   # noqa: N802
        with self.lock:
            self.groups[name] = "RUNNING"
        return True


def test_concurrent_updates_share_reloads_stop_together_and_each_applies_only_its_own(tmp_path):
    names = [f"c{i:02d}-0001" for i in range(10)]
    state = StateDir.at(tmp_path)
    simulated = SimulatedSupervisord(set(names) | {"other-0001"})
    rpc = _UnixXMLRPCServer(str(state.supervisor_sock))
    simulated.register(rpc)
    thread = threading.Thread(target=rpc.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    async def remove_all() -> list[sup.UpdateResult]:
        supervisord = sup.Supervisord(state)
        try:
            simulated.files -= set(names) | {"other-0001"}   # every program file gone, "other" by another caller
            return await asyncio.gather(*(supervisord.update(only={name}) for name in names))
        finally:
            supervisord.close()
    try:
        started = time.monotonic()
        results = asyncio.run(remove_all())
        elapsed = time.monotonic() - started
    finally:
        rpc.shutdown()
        rpc.server_close()
    assert [r.removed for r in results] == [[name] for name in names]
    assert all(not r.added and not r.changed for r in results)
    assert set(simulated.groups) == {"other-0001"}, "a program nobody asked about is left to its own caller"
    assert simulated.reloads <= 3, "callers that came while an update ran shared the next reloadConfig"
    assert elapsed < 5 * SimulatedSupervisord.STOP_S, f"ten stops took {elapsed:.2f} s: one after another"
