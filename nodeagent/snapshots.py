"""Snapshots of redis nodes to an object store, and restores of them into a node's data dir.

TakeSnapshot runs BGSAVE on the agent's kept-open connection to the node (refused
while a BGSAVE runs or another snapshot of the node is in flight), waits for it
with a deadline, and streams the RDB file to the store in chunks from a worker
thread: the event loop keeps probing and heartbeating meanwhile, and the file is
never read whole. RestoreNodeData downloads an RDB into `<data>/dump.rdb.tmp`
before the node runs, checks its sha256 and `redis-check-rdb` (of the node's
engine version), and only then renames it to `dump.rdb`, which redis loads at start.
Both read and write only the agent's own stores (nodeagent/stores.py), by name. The RDB
check always runs on a restore: what the store hands back is not trusted to be what was
checked when it was taken (a store can be written by others). Both checks read the same
bytes as they are written, beside the download (a thread hashes them; another splices what
is on disk into the checker's pipe), so they add little to its time.
"""
from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import pathlib
import queue
import subprocess
import tempfile
import threading
import time

import structlog
from cachefleet.v1 import node_agent_pb2

from nodeagent.engines import select_install
from nodeagent.engines.redis import AOF_DIR, AOF_FILE, parse_info
from nodeagent.errors import AgentError, FailedPrecondition, InvalidArgument
from cachefleet.common.failpoints import failpoint
from nodeagent.layout import open_in_data_dir
from nodeagent.libc import release_memory, start_writeback
from cachefleet.common.objectstore import ObjectStore, ObjectStoreError
from cachefleet.common.objectstore.base import check_metadata
from nodeagent.resp import ConnectionLost, RespClient, RespError
from nodeagent.setaside import set_aside_files
from nodeagent.specs import check_node_key
from nodeagent.stores import AgentStores

log = structlog.get_logger("nodeagent.snapshots")

CHUNK = 1 << 20
RDB_FILE = "dump.rdb"
RESTORE_TEMP = "dump.rdb.tmp"
BGSAVE_DEADLINE_S = 900.0
POLL_S = 0.01          # BGSAVE is polled this often: its end is noticed within 10 ms
COMMAND_TIMEOUT_S = 5.0
RETRY_S = 2.0          # how long an unreachable engine is retried before the snapshot fails
CHECK_TIMEOUT_S = 900.0
VERIFY_QUEUE = 4        # downloaded blocks waiting for the hashing/checking thread
NOT_SUPPORTED = "SnapshotFeatureNotSupportedFault"
BUSY = "InvalidCacheClusterState"
WRITE_BEHIND = 32 << 20   # a restore starts writing its file out every this many bytes


class SnapshotFailed(AgentError):
    code = "SnapshotFailed"


def check_rdb_command(server_binary: str, path: pathlib.Path) -> tuple[str, list[str]]:
    """(executable, argv) of the redis-check-rdb that goes with server_binary.

    A `redis-check-rdb` beside the server is used; otherwise redis-server itself, which runs
    as the checker when its argv[0] says redis-check-rdb (redis does so since 3.2).
    """
    sibling = pathlib.Path(server_binary).with_name("redis-check-rdb")
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return str(sibling), [str(sibling), str(path)]
    return server_binary, ["redis-check-rdb", str(path)]


async def start_rdb_check(installs, version: str, fd: int) -> asyncio.subprocess.Process:
    """redis-check-rdb of `version` (else the newest installed redis) on the open file `fd`."""
    install = select_install(installs, "redis", version) or select_install(installs, "redis", "")
    if install is None:
        raise SnapshotFailed("no redis-check-rdb: redis is not installed on this host")
    executable, argv = check_rdb_command(install.path, pathlib.Path(f"/dev/fd/{fd}"))
    check = await asyncio.create_subprocess_exec(
        *argv, executable=executable, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, pass_fds=(fd,))
    try:  # idle priority: it must not slow the upload it runs beside, nor the engines
        os.setpriority(os.PRIO_PROCESS, check.pid, 19)
    except OSError:
        pass
    return check


async def finish_rdb_check(check: asyncio.subprocess.Process) -> str:
    """'' when the check passed, else what it said (its error lines)."""
    output, _ = await asyncio.wait_for(check.communicate(), CHECK_TIMEOUT_S)
    if check.returncode == 0:
        return ""
    return check_failure(output.decode(errors="replace"))


def check_failure(output: str) -> str:
    lines = [line for line in output.splitlines()
             if "ERROR" in line or "error" in line.lower() or "Unexpected" in line
             or "version" in line.lower()] or output.splitlines()[-3:]
    return "; ".join(lines)[:400]


class StreamCheck:
    """sha256 and redis-check-rdb of a download as it is written. A thread hashes the blocks
    from a short queue; another follows the file being written and splices what is on disk
    into the checker's stdin (/dev/stdin as its file): no copy through Python, and a checker
    that falls behind reads the page cache later instead of holding the download back."""

    def __init__(self, server_binary: str, cwd: pathlib.Path, written: int) -> None:
        """written: the file the download writes (an fd open for writing)."""
        self.digest = hashlib.sha256()
        self.output = tempfile.TemporaryFile()
        self.proc: subprocess.Popen | None = None
        self._blocks: queue.Queue[bytes | None] = queue.Queue(VERIFY_QUEUE)
        self._progress = threading.Condition()
        self._size = 0          # bytes of the file written so far
        self._done = False      # no more will be
        # Its own read-only open file of the same inode (never a path an engine could swap).
        self._source = os.open(f"/proc/self/fd/{written}", os.O_RDONLY)
        self._threads = [threading.Thread(target=self._hash, name="restore-sha256", daemon=True)]
        try:
            self._start_checker(server_binary, cwd)
        except OSError:
            os.close(self._source)
            raise
        for thread in self._threads:
            thread.start()

    def _start_checker(self, server_binary: str, cwd: pathlib.Path) -> None:
        executable, argv = check_rdb_command(server_binary, pathlib.Path("/dev/stdin"))
        self.proc = proc = subprocess.Popen(argv, executable=executable, stdin=subprocess.PIPE,
                                            stdout=self.output, stderr=subprocess.STDOUT, cwd=cwd, bufsize=0)
        assert proc.stdin is not None       # stdin=PIPE
        try:  # one wake-up of the checker per block rather than per 64 KiB
            fcntl.fcntl(proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, CHUNK)
        except OSError:
            pass
        self._threads.append(threading.Thread(target=self._follow, name="restore-check", daemon=True))

    def _hash(self) -> None:
        while (block := self._blocks.get()) is not None:
            self.digest.update(block)

    def _follow(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None    # started with its checker
        stdin = self.proc.stdin
        sent = 0
        try:
            while True:
                with self._progress:
                    self._progress.wait_for(lambda: self._size > sent or self._done)
                    end, done = self._size, self._done
                if sent >= end and done:
                    break
                while sent < end:
                    moved = os.splice(self._source, stdin.fileno(), end - sent, offset_src=sent)
                    if moved == 0:
                        raise OSError(f"{sent} bytes written, fewer on disk")
                    sent += moved
        except OSError:  # BrokenPipeError: the checker stopped early, its exit status says why
            pass
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def feed(self, block: bytes | None) -> None:
        """block was just written to the file (None: the download ended)."""
        self._blocks.put(block)
        with self._progress:
            if block is None:
                self._done = True
            else:
                self._size += len(block)
            self._progress.notify()

    def finish(self, timeout: float = CHECK_TIMEOUT_S) -> tuple[str, int, str]:
        """(sha256, the checker's exit status, its output) once every block went through."""
        self.feed(None)
        for thread in self._threads:
            thread.join()
        returncode = self.proc.wait(timeout) if self.proc is not None else 0
        self.output.seek(0)
        return self.digest.hexdigest(), returncode, self.output.read().decode(errors="replace")

    def close(self) -> None:
        """Stop everything (a failed download): kill the checker, let the threads end."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if any(thread.is_alive() for thread in self._threads):
            self.feed(None)
            for thread in self._threads:
                thread.join()
        if self.proc is not None:
            self.proc.wait()
        self.output.close()
        os.close(self._source)


class Snapshots:
    def __init__(self, nodes, stores: AgentStores) -> None:  # nodes: NodeManager (no import cycle)
        self._nodes = nodes
        self._stores = stores
        self._busy: set[str] = set()  # node keys with a snapshot or restore in flight

    def busy(self, node_key: str) -> bool:
        return node_key in self._busy

    # -- TakeSnapshot ---------------------------------------------------------------------
    async def take(self, request: node_agent_pb2.TakeSnapshotRequest) -> node_agent_pb2.SnapshotResult:
        key = request.node_key
        check_node_key(key)
        try:   # refused before any work, whichever store would have been given it
            check_metadata(dict(request.metadata))
        except ObjectStoreError as error:
            raise InvalidArgument(str(error)) from None
        spec = self._nodes.spec(key)
        if spec is None:
            raise FailedPrecondition(f"node {key} is not on this host", code="CacheClusterNotFound")
        if spec.engine != "redis":
            raise FailedPrecondition(f"{spec.engine} node {key} cannot be snapshotted", code=NOT_SUPPORTED)
        if not request.key:
            raise InvalidArgument("key is required")
        store = self._stores.open(request.store, request.key)
        if key in self._busy:
            raise FailedPrecondition(f"a snapshot of node {key} is already in progress", code=BUSY)
        self._busy.add(key)
        try:
            return await self._take(key, request, store)
        finally:
            self._busy.discard(key)
            await asyncio.to_thread(release_memory)

    async def _command(self, key: str, client: RespClient, commands: list, what: str,
                       retry_for: float = 0.0) -> list:
        """Run commands on the snapshot's own connection; read-only ones (retry_for > 0) are
        retried while the engine is briefly unreachable, so a slow moment is not a failure."""
        give_up = time.monotonic() + retry_for
        while True:
            try:
                replies = await client.execute(commands, COMMAND_TIMEOUT_S)
            except (ConnectionLost, OSError, TimeoutError) as error:
                if time.monotonic() < give_up:
                    await asyncio.sleep(POLL_S)
                    continue
                raise SnapshotFailed(f"node {key}: the engine stopped answering during {what} "
                                     f"(exited or killed?): {error or type(error).__name__}") from error
            for reply in replies:
                if isinstance(reply, RespError):
                    raise SnapshotFailed(f"node {key}: {what} refused: {reply}")
            return replies

    async def _take(self, key: str, request: node_agent_pb2.TakeSnapshotRequest,
                    store: ObjectStore) -> node_agent_pb2.SnapshotResult:
        view = self._nodes.monitor.view(key)
        if view is None or not view.live:
            raise FailedPrecondition(f"node {key} is not running", code=BUSY)
        # A connection of its own: the probe session is closed whenever a probe times out,
        # which would fail a snapshot that is merely slow.
        hello = [c for c in view.session.hello if c[:2] != ("CLIENT", "SETNAME")]
        client = RespClient(view.session.address, view.session.port,
                            hello + [("CLIENT", "SETNAME", "cachefleet-snapshot")],
                            connect_timeout=COMMAND_TIMEOUT_S, ssl=view.session.client.ssl)
        try:
            return await self._take_with(key, request, store, client)
        finally:
            client.close()

    async def _take_with(self, key: str, request: node_agent_pb2.TakeSnapshotRequest,
                         store: ObjectStore, client: RespClient) -> node_agent_pb2.SnapshotResult:
        persistence, server, rdb_dir, rdb_name = await self._command(key, client, [
            ("INFO", "persistence"), ("INFO", "server"),
            ("CONFIG", "GET", "dir"), ("CONFIG", "GET", "dbfilename")], "INFO persistence",
            retry_for=RETRY_S)
        if parse_info(persistence).get("rdb_bgsave_in_progress") == "1":
            raise FailedPrecondition(f"node {key}: a BGSAVE is already running", code=BUSY)
        version = parse_info(server).get("redis_version", "")
        run_id = parse_info(server).get("run_id")
        # Read from the node's own data directory only, whatever the engine (which anyone who
        # can CONFIG SET may point elsewhere) says: the agent may read files the engine may not.
        data_dir = self._nodes.state.data_dir(key)
        if pathlib.Path(rdb_dir[1]) != data_dir or "/" in rdb_name[1]:
            raise SnapshotFailed(f"node {key}: the engine saves to {rdb_dir[1]}/{rdb_name[1]}, "
                                 f"not in its data directory {data_dir}")
        path = data_dir / rdb_name[1]
        started = time.monotonic()
        await self._command(key, client, [("BGSAVE",)], "BGSAVE")
        deadline = started + BGSAVE_DEADLINE_S
        while True:
            await asyncio.sleep(POLL_S)
            info, now_server = await self._command(key, client, [("INFO", "persistence"), ("INFO", "server")],
                                                   "BGSAVE", retry_for=RETRY_S)
            if parse_info(now_server).get("run_id") != run_id:
                # killed and restarted meanwhile: the file on disk is not what this BGSAVE saved
                raise SnapshotFailed(f"node {key}: the engine restarted during BGSAVE (killed?); "
                                     f"no snapshot was stored")
            fields = parse_info(info)
            if fields.get("rdb_bgsave_in_progress") == "0":
                break
            if time.monotonic() > deadline:
                raise SnapshotFailed(f"node {key}: BGSAVE did not finish within {BGSAVE_DEADLINE_S:.0f}s")
        if fields.get("rdb_last_bgsave_status") != "ok":
            raise SnapshotFailed(f"node {key}: BGSAVE failed (rdb_last_bgsave_status:"
                                 f"{fields.get('rdb_last_bgsave_status')}); see the engine's log")
        bgsave_s = time.monotonic() - started
        metadata = dict(request.metadata)
        metadata.update({"engine": "redis", "engine_version": version, "source_node": key})
        try:
            # Opened now: a later BGSAVE renames a new file over the name, this one stays readable.
            handle = await asyncio.to_thread(open_in_data_dir, path)
        except OSError as error:
            raise SnapshotFailed(f"node {key}: cannot read the RDB file {path}: {error}") from error
        check = None
        try:
            # redis-check-rdb reads the same open file beside the upload (which waits on the
            # network): the check costs no time here, and a restore of these bytes needs none.
            check = await start_rdb_check(self._nodes.installs, version, handle.fileno())
            info = await store.aput_file(request.key, handle, metadata, encrypted=request.encrypted)
            failure = await finish_rdb_check(check)
            check = None
        except ObjectStoreError as error:
            raise SnapshotFailed(f"node {key}: upload to {store.describe()} failed: {error}") from error
        except OSError as error:
            raise SnapshotFailed(f"node {key}: reading {path} failed: {error}") from error
        finally:
            handle.close()
            if check is not None and check.returncode is None:
                check.kill()
                await check.wait()
        if failure:
            await store.adelete(request.key)
            raise SnapshotFailed(f"node {key}: the RDB file BGSAVE wrote fails redis-check-rdb: {failure}")
        failpoint("snapshot.after_commit")   # committed, not yet answered
        log.info("snapshot taken", node_key=key, object=request.key, size=info.size, encrypted=request.encrypted,
                 bgsave_s=round(bgsave_s, 3), total_s=round(time.monotonic() - started, 3))
        return node_agent_pb2.SnapshotResult(key=info.key, size=info.size, sha256=info.sha256 or "",
                                             engine_version=version,
                                             message=f"BGSAVE {bgsave_s:.2f}s; stored in {store.describe()}")

    # -- RestoreNodeData ------------------------------------------------------------------
    async def restore(self, request: node_agent_pb2.RestoreNodeDataRequest
                      ) -> node_agent_pb2.RestoreNodeDataResponse:
        key = request.node_key
        check_node_key(key)
        engine = request.engine or "redis"
        if engine != "redis":
            raise FailedPrecondition(f"{engine} nodes cannot be restored from a snapshot", code=NOT_SUPPORTED)
        if not request.key:
            raise InvalidArgument("key is required")
        install = select_install(self._nodes.installs, "redis", request.engine_version)
        if install is None:
            raise FailedPrecondition(f"redis {request.engine_version or '(any)'} is not installed on this host",
                                     code="InvalidParameterCombination")
        store = self._stores.open(request.store, request.key)
        if key in self._busy:
            raise FailedPrecondition(f"a snapshot or restore of node {key} is in progress", code=BUSY)
        self._busy.add(key)
        try:
            if await self._nodes.running(key):
                raise FailedPrecondition(f"node {key} is running; data is restored only before it starts",
                                         code=BUSY)
            return await asyncio.to_thread(self._restore, key, request, store, install.path)
        finally:
            self._busy.discard(key)
            await asyncio.to_thread(release_memory)

    def _restore(self, key: str, request: node_agent_pb2.RestoreNodeDataRequest, store: ObjectStore,
                 server_binary: str) -> node_agent_pb2.RestoreNodeDataResponse:
        data_dir = self._nodes.state.data_dir(key)
        created = not data_dir.exists()
        self._nodes.state.make_data_dir(key)
        temp = data_dir / RESTORE_TEMP
        ok = False
        check: StreamCheck | None = None
        started = time.monotonic()
        times: dict[str, float] = {}
        try:
            size = 0
            try:
                blocks = store.get_stream(request.key, CHUNK)
                with open_in_data_dir(temp, write=True) as out:
                    try:
                        check = StreamCheck(server_binary, data_dir, out.fileno())
                    except OSError as error:
                        raise SnapshotFailed(f"node {key}: redis-check-rdb could not run: {error}",
                                             code="RestoreFailed") from error
                    flushed = 0
                    for block in blocks:
                        view = memoryview(block)
                        while view:   # unbuffered: a write may take less than the block
                            view = view[out.write(view) or 0:]
                        check.feed(block)
                        size += len(block)
                        if size - flushed >= WRITE_BEHIND:
                            start_writeback(out.fileno(), flushed, size - flushed)
                            flushed = size
                    times["download_s"] = time.monotonic() - started
                    os.fsync(out.fileno())   # only the tail is left to write by now
                    times["fsync_s"] = time.monotonic() - started
                sha, returncode, output = check.finish()
                times["checked_s"] = time.monotonic() - started
            except ObjectStoreError as error:
                message = f"node {key}: download of {request.key!r} from {store.describe()} failed: {error}"
                if any(word in str(error).lower() for word in ("no object", "not found", "no such")):
                    raise InvalidArgument(message, code="SnapshotNotFoundFault") from error   # final
                raise SnapshotFailed(message, code="RestoreFailed") from error   # may pass another time
            except subprocess.TimeoutExpired as error:
                raise SnapshotFailed(f"node {key}: redis-check-rdb did not finish: {error}",
                                     code="RestoreFailed") from error
            except OSError as error:
                raise SnapshotFailed(f"node {key}: writing {temp} failed: {error}", code="RestoreFailed") from error
            if request.sha256 and request.sha256.lower() != sha:
                raise InvalidArgument(f"object {request.key!r} has sha256 {sha}, not the expected "
                                      f"{request.sha256}: refusing it", code="InvalidSnapshotState")
            if returncode != 0:
                raise InvalidArgument(f"object {request.key!r} is not an RDB file redis {server_binary} "
                                      f"can load (redis-check-rdb: {check_failure(output)})",
                                      code="InvalidSnapshotState")
            # An AOF left in the directory would be loaded instead of the snapshot (appendonly yes)
            set_aside_files(self._nodes.state, key, [data_dir / AOF_FILE, data_dir / AOF_DIR],
                            "a snapshot is restored over it")
            os.replace(temp, data_dir / RDB_FILE)
            fd = os.open(data_dir, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            ok = True
            times["total_s"] = time.monotonic() - started
            log.info("node data restored", node_key=key, object=request.key, size=size,
                     **{name: round(value, 3) for name, value in times.items()})
            return node_agent_pb2.RestoreNodeDataResponse(size=size, sha256=sha)
        finally:
            if check is not None:
                check.close()
            if not ok:
                temp.unlink(missing_ok=True)
                if created:
                    try:
                        for child in data_dir.iterdir():
                            child.unlink()
                        data_dir.rmdir()
                    except OSError:
                        pass
