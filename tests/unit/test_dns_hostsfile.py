"""The hosts-file backend: atomic rewrites, restart memory, and the hosts-file readers."""
from __future__ import annotations

import asyncio
import os
import pathlib
import threading

import pytest

from coordinator.dns import DnsError, HostsFileBackend, make_backend, read_hosts_file, resolve_hosts_file
from coordinator.dns.hostsfile import HEADER

ZONE = "cachefleet.internal"


def hosts_backend(path: pathlib.Path) -> HostsFileBackend:
    made = make_backend("hostsfile", path=path, zone=ZONE)
    assert isinstance(made, HostsFileBackend)
    return made


def test_sync_writes_one_line_per_address_under_a_generated_header(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "hosts"
    asyncio.run(
        hosts_backend(path).sync(
            {f"0001.c1.{ZONE}": ["127.0.1.1"], f"c1.cfg.{ZONE}": ["127.0.1.2", "127.0.1.1"]}
        )
    )
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER
    assert [line for line in lines if not line.startswith("#")] == [
        f"127.0.1.1 0001.c1.{ZONE}",
        f"127.0.1.1 c1.cfg.{ZONE}",
        f"127.0.1.2 c1.cfg.{ZONE}",
    ]
    assert path.stat().st_mode & 0o777 == 0o644  # readable by a resolver running as another user


def test_readers_never_see_a_half_written_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "hosts"
    dns_backend = hosts_backend(path)
    stop = threading.Event()
    reads: list[int] = []
    torn: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                text = path.read_text()
            except FileNotFoundError:
                continue
            # A whole file starts with the header, ends with a newline, and has as many
            # names as its second line announces.
            announced = int(text.splitlines()[1].split(": ")[1].split()[0]) if text.count("\n") > 1 else -1
            if not text.startswith(HEADER) or not text.endswith("\n") or announced != len(read_names(text)):
                torn.append(text)
            reads.append(len(text))

    def read_names(text: str) -> set[str]:
        return {line.split()[1] for line in text.splitlines() if line and not line.startswith("#")}

    async def many_syncs() -> None:
        for round_ in range(150):
            count = 50 + (round_ * 37) % 400  # file size swings between ~2 and ~17 KB
            await dns_backend.sync({f"{i:04d}.c{round_}.{ZONE}": [f"127.0.{i % 250}.{round_ % 250 + 1}"] for i in range(count)})

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        asyncio.run(many_syncs())
    finally:
        stop.set()
        thread.join()
    assert not torn, f"{len(torn)} torn reads, first: {torn[0][:200]!r}"
    assert len(reads) > 100
    assert sorted(os.listdir(tmp_path)) == ["hosts"]  # no temp file left behind


def test_restart_keeps_published_names_and_prunes_the_rest(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "hosts"
    kept, stale = f"0001.c1.{ZONE}", f"0002.c1.{ZONE}"
    asyncio.run(hosts_backend(path).sync({kept: ["127.0.1.1"], stale: ["127.0.1.2"]}))
    inode = path.stat().st_ino

    restarted = hosts_backend(path)
    asyncio.run(restarted.sync({kept: ["127.0.1.1"], stale: ["127.0.1.2"]}))
    assert path.stat().st_ino == inode  # it knew the file was already right: no rewrite

    asyncio.run(hosts_backend(path).sync({kept: ["127.0.1.1"]}))
    assert resolve_hosts_file(path, kept) == ["127.0.1.1"]
    assert resolve_hosts_file(path, stale) == []


def test_hand_edits_and_deletion_are_repaired_on_the_next_sync(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "hosts"
    desired = {f"0001.c1.{ZONE}": ["127.0.1.1"]}
    dns_backend = hosts_backend(path)

    async def scenario() -> None:
        await dns_backend.sync(desired)
        with path.open("a") as f:
            f.write(f"10.9.9.9 intruder.{ZONE}\n::1 v6.{ZONE}\n")
        await dns_backend.sync(desired)
        assert read_hosts_file(path) == {f"0001.c1.{ZONE}": ["127.0.1.1"]}

        path.unlink()
        await dns_backend.sync(desired)
        assert resolve_hosts_file(path, f"0001.c1.{ZONE}") == ["127.0.1.1"]

    asyncio.run(scenario())


def test_refuses_to_overwrite_a_file_it_did_not_write(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("127.0.0.1 localhost\n")
    with pytest.raises(DnsError, match="not written by cachefleet"):
        asyncio.run(hosts_backend(path).sync({f"a.{ZONE}": ["127.0.1.1"]}))
    assert path.read_text() == "127.0.0.1 localhost\n"


def test_missing_directory_is_created(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "state" / "dns" / "hosts"
    asyncio.run(hosts_backend(path).sync({f"a.{ZONE}": ["127.0.1.1"]}))
    assert resolve_hosts_file(path, f"a.{ZONE}") == ["127.0.1.1"]


def test_unwritable_path_is_a_dns_error(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a-file").write_text("")
    dns_backend = hosts_backend(tmp_path / "a-file" / "hosts")  # root ignores modes; a file as parent stops anyone
    with pytest.raises(DnsError, match="cannot (read|write)"):
        asyncio.run(dns_backend.sync({f"a.{ZONE}": ["127.0.1.1"]}))


def test_resolve_reads_etc_hosts_style_files(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "hosts"
    path.write_text(
        "# comment line\n"
        "127.0.0.1\tlocalhost\n"
        "::1 localhost ip6-localhost   # inline comment\n"
        "10.0.0.5 Node.Example.com. node alias\n"
        "10.0.0.6 node.example.com\n"
        "10.0.0.5 node.example.com\n"
        "10.0.0.9\n"
    )
    assert resolve_hosts_file(path, "localhost") == ["127.0.0.1", "::1"]
    assert resolve_hosts_file(path, "NODE.example.com.") == ["10.0.0.5", "10.0.0.6"]
    assert resolve_hosts_file(path, "alias") == ["10.0.0.5"]
    assert resolve_hosts_file(path, "absent") == []
    assert resolve_hosts_file(tmp_path / "no-such-file", "localhost") == []
    assert read_hosts_file(path)["ip6-localhost"] == ["::1"]
