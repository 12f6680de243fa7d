"""README.md's deployment sections and systemd/'s unit files, read the way systemd reads them:
what tests of the units (and the namespace deployment in servicefleet.py) start from."""
from __future__ import annotations

import configparser
import pathlib
import re
import shlex

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
UNITS = ROOT / "systemd"
SERVICE_SECTION = "Running it as a service"
THREE_MACHINES_SECTION = "Three coordinators on three machines"


def readme_section(title: str = SERVICE_SECTION) -> str:
    """README's `## title`, up to the next section."""
    text = README.read_text()
    section = text[text.index(f"## {title}\n"):]
    return section[:section.index("\n## ", 1)]


def readme_env_files(title: str = SERVICE_SECTION) -> dict[str, str]:
    """The environment files a README section writes (`cat > /etc/cachefleet/NAME <<'EOF'`), by name."""
    return dict(re.findall(r"cat > /etc/cachefleet/(\S+) <<'EOF'\n(.*?)\nEOF\n", readme_section(title), re.S))


def readme_lines(prefix: str, title: str = SERVICE_SECTION) -> list[str]:
    """The lines of the section's shell blocks that start with `prefix` (`cachefleet ca `, ...)."""
    blocks = re.findall(r"```sh\n(.*?)```", readme_section(title), re.S)
    return [line for block in blocks for line in block.splitlines() if line.startswith(prefix)]


def parse_env(text: str) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them (no quoting used here)."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def unit_lines(name: str) -> dict[str, str]:
    """The [Service] settings of one unit file in systemd/."""
    return dict(unit(name)["Service"])


def unit(name: str) -> configparser.RawConfigParser:
    """One unit file in systemd/, every section (a setting given twice: its last value)."""
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name)
    return parser


def command(line: str, env: dict[str, str]) -> list[str]:
    """One Exec line as systemd runs it: `$VAR` alone is split into words, `${VAR}` is one
    word, `$$` is a `$`; a leading `-` (ignore failure) or `+` (unsandboxed) is dropped."""
    words: list[str] = []
    for word in shlex.split(line.lstrip("-+")):
        if re.fullmatch(r"\$\w+", word):
            words += env.get(word[1:], "").split()
            continue
        word = re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), ""), word)
        words.append(word.replace("$$", "$"))
    return words
