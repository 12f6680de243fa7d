"""`python -m nodeagent.prepare STATE_DIR --agent-user U --engine-user E`: the supervisord
unit's ExecStartPre, run as root before a root supervisord starts: the agent's state
directory laid out as the agent would (layout.py), owned by the agent's user, and
supervisord.conf written with the agent's own code, so the two always agree on the paths and
on who may reach the socket.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import pwd
import sys
from collections.abc import Sequence

from nodeagent import engineuser
from nodeagent.layout import StateDir, write_atomic
from nodeagent.supervisor import supervisord_conf


def run_as(program: pathlib.Path, user: str) -> bool:
    """Give a program file an agent wrote before engines ran apart (no `user=`) the engine
    user: supervisord is root now, and would run it as root. Returns whether it changed."""
    lines = program.read_text().splitlines(keepends=True)
    if any(line.startswith("user=") for line in lines):
        return False
    at = next((i for i, line in enumerate(lines) if line.startswith("command=")), None)
    if at is None:
        return False
    lines.insert(at + 1, f"user={user}\n")
    return write_atomic(program, "".join(lines), mode=0o640)


def prepare(root: str, agent_user: str, engine_user: str) -> StateDir:
    """Lay out root for agent_user and engines run as engine_user ('' : as supervisord)."""
    agent = pwd.getpwnam(agent_user)
    engine = engineuser.resolve(engine_user)
    if engine is not None and engine.uid == agent.pw_uid:
        raise engineuser.EngineUserError(f"the engine user {engine_user!r} is the agent's own")
    state = StateDir.at(root, engine.gid if engine else None)
    state.ensure()
    for path in (state.root, state.programs_dir, state.nodes_dir, state.logs_dir, state.data_root):
        shared = path == state.data_root and engine is not None
        os.chown(path, agent.pw_uid, -1 if shared else agent.pw_gid)
    state.ensure()      # again: a chown may have cleared a setgid bit
    if engine is not None:
        for program in state.programs_dir.glob("*.conf"):
            if run_as(program, engine.name):
                os.chown(program, agent.pw_uid, agent.pw_gid)
    write_atomic(state.supervisord_conf, supervisord_conf(state), mode=0o640)
    os.chown(state.supervisord_conf, agent.pw_uid, agent.pw_gid)
    return state


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nodeagent.prepare", description=__doc__.splitlines()[0])
    parser.add_argument("state_dir")
    parser.add_argument("--agent-user", required=True, help="the user cachefleet-agent runs as")
    parser.add_argument("--engine-user", default="", help="the user engines run as ('' : supervisord's)")
    args = parser.parse_args(argv)
    try:
        prepare(args.state_dir, args.agent_user, args.engine_user)
    except (KeyError, OSError, engineuser.EngineUserError) as error:
        print(f"nodeagent.prepare: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
