"""Named object stores, configured on the daemon that uses them.

A daemon (an agent, the coordinator) is started with `--store NAME=URL` (repeatable) and,
per store, `--store-endpoint NAME=URL`, `--store-region NAME=REGION` and
`--store-credentials NAME=PATH` (and `--store-timeout NAME=SECONDS`). Requests between daemons then name a store and a key,
never a URL, an endpoint or a credential: whoever can call an agent can only make it read
and write where its own configuration says. Credentials come from the daemon's own
environment (boto3's chain: AWS_ACCESS_KEY_ID, ~/.aws, an instance role) or from the file
`--store-credentials` names (never from argv, which any local user can read in /proc).
"""
from __future__ import annotations

import argparse
import configparser
import json
import pathlib
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cachefleet.common.objectstore.base import ObjectStore, ObjectStoreError

STORE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
DEFAULT_STORE = "default"
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class StoreConfig:
    """One named store as its daemon's flags give it (no secret: the file's path at most)."""
    name: str
    url: str
    endpoint_url: str = ""
    region: str = ""
    credentials_file: str = ""
    timeout: float = 0.0          # seconds an S3 request may wait for a connection or an answer; 0: 60

    @property
    def is_s3(self) -> bool:
        return self.url.startswith("s3://")

    def location(self) -> str:
        """Where it is, for logs and DescribeHosts: never a credential."""
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"{self.url}{where}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The four store flags, the same on every daemon."""
    parser.add_argument("--store", action="append", default=[], metavar="NAME=URL",
                        help="an object store this daemon may use: s3://bucket/prefix, file:///dir or a "
                        "path; repeatable (one per NAME)")
    parser.add_argument("--store-endpoint", action="append", default=[], metavar="NAME=URL",
                        help="an S3-compatible endpoint for store NAME (MinIO, Ceph RGW); default: AWS's")
    parser.add_argument("--store-region", action="append", default=[], metavar="NAME=REGION",
                        help="the region of store NAME's bucket")
    parser.add_argument("--store-credentials", action="append", default=[], metavar="NAME=PATH",
                        help="a file with store NAME's keys: an AWS shared-credentials file ([default] "
                        "aws_access_key_id, aws_secret_access_key) or JSON (AccessKeyId, SecretAccessKey); "
                        "default: boto3's chain (AWS_ACCESS_KEY_ID in the environment, ~/.aws, a role)")
    parser.add_argument("--store-timeout", action="append", default=[], metavar="NAME=SECONDS",
                        help="how long a request to store NAME may wait to connect or for an answer before it "
                        "is retried, and a snapshot or restore fails sooner when the store is cut off (default 60)")


def _pairs(values: Sequence[str], flag: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not rest:
            raise ValueError(f"{flag} wants NAME=VALUE, got {value!r}")
        if not STORE_NAME.fullmatch(name):
            raise ValueError(f"{flag}: store name {name!r} is not lower-case [a-z0-9_-] (at most 63)")
        if name in pairs:
            raise ValueError(f"{flag} names store {name!r} twice")
        pairs[name] = rest
    return pairs


def _checked_url(name: str, url: str) -> str:
    """The URL as it is kept: an S3 one as given, a directory as a file:// URL."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "s3":
        if not parsed.netloc or parsed.query or parsed.fragment:
            raise ValueError(f"--store {name}: {url!r} wants s3://bucket[/prefix]")
        return url
    if parsed.scheme not in ("", "file") or (parsed.scheme == "file" and parsed.netloc not in ("", "localhost")):
        raise ValueError(f"--store {name}: {url!r} is neither s3://bucket/prefix nor file:///dir nor a path")
    path = urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else url
    if not path.startswith("/") or ".." in path.split("/"):
        raise ValueError(f"--store {name}: {url!r} must be an absolute directory without '..'")
    return pathlib.Path(path).as_uri()


def configs_from_arguments(args: argparse.Namespace) -> dict[str, StoreConfig]:
    """The stores the flags declare; ValueError says what is wrong with them."""
    urls = _pairs(args.store, "--store")
    extras = {flag: _pairs(getattr(args, attr), flag) for flag, attr in (
        ("--store-endpoint", "store_endpoint"), ("--store-region", "store_region"),
        ("--store-credentials", "store_credentials"), ("--store-timeout", "store_timeout"))}
    for flag, pairs in extras.items():
        for name in pairs:
            if name not in urls:
                raise ValueError(f"{flag} names store {name!r}, which no --store declares")
            if not urls[name].startswith("s3://"):
                raise ValueError(f"{flag} {name}: only an s3:// store takes it")
    configs = {}
    for name, url in urls.items():
        configs[name] = StoreConfig(name, _checked_url(name, url), extras["--store-endpoint"].get(name, ""),
                                    extras["--store-region"].get(name, ""), extras["--store-credentials"].get(name, ""),
                                    _seconds(name, extras["--store-timeout"].get(name, "")))
    return configs


def _seconds(name: str, value: str) -> float:
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0.1 <= seconds <= 3600:
        raise ValueError(f"--store-timeout {name}: {value!r} is not a number of seconds from 0.1 to 3600")
    return seconds


def read_credentials(path: str) -> dict[str, str]:
    """access_key, secret_key (and session_token) from a shared-credentials file's [default]
    profile or a JSON object in AWS's names; ObjectStoreError when it holds no key pair."""
    try:
        text = pathlib.Path(path).read_text()
    except OSError as exc:
        raise ObjectStoreError(f"cannot read the credentials file {path}: {exc.strerror}") from exc
    fields: Mapping[str, str]
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ObjectStoreError(f"credentials file {path} is not valid JSON: {exc}") from exc
        fields = {"aws_access_key_id": doc.get("AccessKeyId", ""), "aws_secret_access_key": doc.get("SecretAccessKey", ""),
                  "aws_session_token": doc.get("SessionToken", "")} if isinstance(doc, dict) else {}
    else:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text)
        except configparser.Error as exc:
            raise ObjectStoreError(f"credentials file {path} is not an AWS credentials file") from exc
        fields = parser["default"] if parser.has_section("default") else {}
    access, secret = fields.get("aws_access_key_id", ""), fields.get("aws_secret_access_key", "")
    if not access or not secret:
        raise ObjectStoreError(f"credentials file {path} has no aws_access_key_id and aws_secret_access_key "
                               f"(in [default], or AccessKeyId and SecretAccessKey in JSON)")
    found = {"access_key": access, "secret_key": secret}
    if token := fields.get("aws_session_token", ""):
        found["session_token"] = token
    return found


def open_named(config: StoreConfig, **options) -> ObjectStore:
    """The store itself. A local directory is never created here: a missing one is the
    wrong machine's path (or an unmounted share), and writing under it would fill this disk."""
    from cachefleet.common.objectstore import make_store   # the package imports this module
    if not config.is_s3:
        return make_store(config.url, create=False)
    extra: dict = {k: v for k, v in (("endpoint_url", config.endpoint_url), ("region", config.region)) if v}
    if config.credentials_file:
        extra.update(read_credentials(config.credentials_file))
    if config.timeout:
        extra.update(connect_timeout=config.timeout, read_timeout=config.timeout)
    return make_store(config.url, **{**extra, **options})


def probe(config: StoreConfig) -> str:
    """'' when the store answers as a store this daemon can use, else why not: an S3 bucket
    that lists (one key, short timeouts, one attempt) or a directory that exists and is writable."""
    try:
        timeouts = {"connect_timeout": PROBE_TIMEOUT_S, "read_timeout": PROBE_TIMEOUT_S, "max_attempts": 1}
        open_named(config, **(timeouts if config.is_s3 else {})).probe()
    except ObjectStoreError as exc:
        return str(exc)
    return ""


__all__ = ["DEFAULT_STORE", "STORE_NAME", "StoreConfig", "add_arguments", "configs_from_arguments",
           "open_named", "probe", "read_credentials"]
