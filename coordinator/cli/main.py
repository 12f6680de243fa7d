"""`cachefleet`: the `aws elasticache` verbs against a cachefleet coordinator, plus `up`.

    cachefleet create-cache-cluster --cache-cluster-id c1 --engine memcached \\
        --cache-node-type cache.t1.micro --num-cache-nodes 3 --wait
    cachefleet describe-cache-clusters --show-cache-node-info --output table
    cachefleet up        # a local fleet in the foreground (coordinator/up/fleet.py)
    cachefleet ca init --dir DIR     # the fleet CA (coordinator/cli/ca.py)
    cachefleet state-store copy SRC DST   # a fleet's state, SQLite to etcd (coordinator/cli/statestore.py)
    cachefleet help [VERB]

The verbs come from the table in verbs.py, their options from the request
messages (help texts in helptext.py), the output from output.py. `up` is loaded only
when it runs. Exit codes are aws-cli's: 0 success,
252 usage error, 254 the service rejected the request, 255 anything else (the
coordinator cannot be reached, a --wait ran out of time), 130 interrupted.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
import time
from typing import Any, NoReturn
from collections.abc import Callable, Collection, Sequence

import grpc
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from coordinator.cli import connect, paging
from coordinator.cli.helptext import option_help
from coordinator.cli.usage import DEFAULT_ENDPOINT, UsageError, default_endpoint
from coordinator.cli.output import kebab, pascal, render, to_aws
from coordinator.cli.shorthand import ParamError, is_map, option_value, to_field_value
from coordinator.cli.verbs import (ALIASES, GONE, SERVICE, VERBS, VERBS_BY_NAME, WATCH_VERBS, Verb, Waiter,
                                   describe_request, message_class)

POLL_INTERVAL = 0.2

# Shown in `cachefleet --help`; `cachefleet up --help` shows coordinator/up/fleet.py's own (the same words).
UP_SUMMARY = "Run a local fleet in the foreground: a coordinator and N agents on 127.0.1.x."
HELP_SUMMARY = "Show the verbs (cachefleet help), or one verb's options (cachefleet help VERB)."

EXIT_USAGE = 252
EXIT_SERVICE = 254
EXIT_OTHER = 255
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A failure that is not the service's answer (exit 255): connection, timeout, waiter."""


class ServiceError(Exception):
    """The coordinator rejected the request (exit 254), in aws-cli's words."""

    def __init__(self, code: str, operation: str, message: str,
                 status: grpc.StatusCode | None = None) -> None:
        self.code, self.status = code, status
        super().__init__(f"An error occurred ({code}) when calling the {operation} "
                         f"operation: {message}")


class ArgumentParser(argparse.ArgumentParser):
    verb_parsers: dict[str, argparse.ArgumentParser]   # the top-level parser's: verb -> its own parser

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise UsageError(message)


# --- the command line ---

def _field_dest(fd: FieldDescriptor) -> str:
    return f"field:{fd.name}"


def _metavar(fd: FieldDescriptor) -> str:
    if fd.message_type is not None:
        if fd.message_type.full_name == "google.protobuf.Timestamp":
            return "ISO8601"
        return "Key=value,..."
    if fd.cpp_type in (FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64,
                       FieldDescriptor.CPPTYPE_UINT32, FieldDescriptor.CPPTYPE_UINT64):
        return "N"
    return "VALUE"


class AwsBoolean(argparse.BooleanOptionalAction):
    """aws-cli's booleans: `--x` is true and `--no-x` false, also for an x that starts with
    `no-` (`--no-password-required`), which argparse's own action would read as a negation."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if option_string in self.option_strings:
            setattr(namespace, self.dest, option_string == self.option_strings[0])


def add_request_options(parser: argparse.ArgumentParser, verb: Verb) -> None:
    """One option per request field, spelled as aws-cli spells it."""
    for fd in verb.request_descriptor.fields:
        option = "--" + kebab(fd.name)
        required = fd.name in verb.required
        text = option_help(verb.name, fd.name)
        if fd.cpp_type == FieldDescriptor.CPPTYPE_BOOL and not fd.is_repeated:
            parser.add_argument(option, dest=_field_dest(fd), action=AwsBoolean,
                                default=None, required=required, help=text)
        elif fd.is_repeated and not is_map(fd):
            parser.add_argument(option, dest=_field_dest(fd), nargs="+", metavar=_metavar(fd),
                                required=required, help=text)
        else:
            parser.add_argument(option, dest=_field_dest(fd), metavar=_metavar(fd),
                                required=required, help=text)


def add_global_options(parser: argparse.ArgumentParser, verb: Verb | None,
                       suppress: bool) -> None:
    """Options every verb takes; aws-cli accepts them before or after the verb."""
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("global options")
    group.add_argument("--endpoint", default=default(None), metavar="HOST:PORT",
                       help=f"the coordinator, or several (comma-separated: the first that accepts a connection) "
                       f"(env CACHEFLEET_ENDPOINT; default: those the local fleet's `cachefleet up` wrote in its "
                       f"state directory, else {DEFAULT_ENDPOINT})")
    connect.add_options(group, default(None))
    group.add_argument("--output", choices=("json", "table", "text"), default=default("json"),
                       help="json (default), table for people, text (tab-separated) for scripts")
    group.add_argument("--query", default=default(None), metavar="JMESPATH",
                       help="print only this part of the output (a JMESPath expression)")
    group.add_argument("--cli-read-timeout", type=float, default=default(60.0), metavar="SECONDS",
                       help="deadline of each call to the coordinator (default 60)")
    if verb is None or verb.waiter is not None:
        group.add_argument("--wait", action="store_true", default=default(False),
                           help="block until the work is done (available, or gone after a delete)")
        group.add_argument("--wait-timeout", type=float, default=default(600.0), metavar="SECONDS",
                           help="give up waiting after this long (default 600)")


def build_parser(only: Collection[str] | None = None) -> ArgumentParser:
    """The whole command line, or with only the verbs named in `only`: a call builds just the
    parser of its own verb (each verb's options cost a quarter of a millisecond, sixty of them
    a sixth of the CLI's start)."""
    def wanted(name: str) -> bool:
        return only is None or name in only

    parser = ArgumentParser(
        prog="cachefleet", description="ElastiCache for your own hosts: aws elasticache's verbs.",
        epilog="`cachefleet help VERB` (or `cachefleet VERB --help`) shows a verb's options. "
               "Exit codes: 0 ok, 252 usage, 254 the service said no, 255 other failures.")
    add_global_options(parser, None, suppress=False)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    parser.verb_parsers = {}
    for verb in VERBS + WATCH_VERBS:
        if not wanted(verb.name):
            continue
        sub = verbs.add_parser(verb.name, help=verb.summary, description=verb.summary)
        add_request_options(sub, verb)
        add_global_options(sub, verb, suppress=True)
        if verb.follow:   # describe-events --follow streams through WatchEvents
            sub.add_argument("--follow", action="store_true",
                             help="keep printing events as they happen, one line each, until Ctrl-C")
        if pages(verb) is not None:
            paging.add_arguments(sub)
        parser.verb_parsers[verb.name] = sub
    # `up`'s own options are parsed in run(), so its module loads only when it runs; the
    # other verbs' modules load when they are built.
    if wanted("up"):
        parser.verb_parsers["up"] = verbs.add_parser("up", help=UP_SUMMARY, description=UP_SUMMARY, add_help=False)
    if wanted("top"):
        from coordinator.cli import top as cli_top
        top = verbs.add_parser("top", help=cli_top.SUMMARY, description=cli_top.SUMMARY)
        cli_top.add_arguments(top)
        parser.verb_parsers["top"] = top
    if wanted("ca"):
        from coordinator.cli import ca as cli_ca
        ca = verbs.add_parser("ca", help=cli_ca.SUMMARY, description=cli_ca.SUMMARY)
        cli_ca.add_arguments(ca, _output_options)
        parser.verb_parsers["ca"] = ca
    if wanted("state-store"):
        from coordinator.cli import statestore as cli_statestore
        state_store = verbs.add_parser("state-store", help=cli_statestore.SUMMARY,
                                       description=cli_statestore.SUMMARY)
        cli_statestore.add_arguments(state_store, _output_options)
        parser.verb_parsers["state-store"] = state_store
    if wanted("help"):
        helper = verbs.add_parser("help", help=HELP_SUMMARY, description=HELP_SUMMARY)
        helper.add_argument("topic", nargs="?", metavar="VERB", help="the verb to show the options of")
        parser.verb_parsers["help"] = helper
    return parser


OWN_VERBS = ("up", "top", "ca", "state-store", "help")   # the verbs that are no RPC of the tables


def verbs_named(words: Sequence[str]) -> set[str] | None:
    """The verbs the parser needs for these words: every verb name among them (a value of a
    global option may spell one too: it only costs its parser). None, the whole parser, when
    none is named, when help is asked for (the list of verbs), or when usage goes wrong."""
    named = {word for word in words if word in VERBS_BY_NAME or word in OWN_VERBS}
    if not named or "help" in named or "-h" in words or "--help" in words:
        return None
    return named


def _output_options(parser: argparse.ArgumentParser) -> None:
    """--output and --query after a verb that prints without calling the coordinator (`ca`)."""
    group = parser.add_argument_group("global options")
    group.add_argument("--output", choices=("json", "table", "text"), default=argparse.SUPPRESS,
                       help="json (default), table for people, text (tab-separated) for scripts")
    group.add_argument("--query", default=argparse.SUPPRESS, metavar="JMESPATH",
                       help="print only this part of the output (a JMESPath expression)")


def pages(verb: Verb) -> paging.Pages | None:
    return paging.pages_of(verb.request_descriptor, verb.method.output_type)


def parse(argv: Sequence[str] | None) -> tuple[ArgumentParser, argparse.Namespace, list[str]]:
    """The command line; an option the verb does not know is the verb's usage error, not the
    top level's. `up` gets its words unparsed (the third item)."""
    words = list(sys.argv[1:] if argv is None else argv)
    for i, pair in enumerate(zip(words, words[1:])):   # the verb may come after the global options
        if pair in ALIASES:
            words[i:i + 2] = [ALIASES[pair]]
            break
    named = verbs_named(words)
    if named is None:
        parser = build_parser()
        args, extra = parser.parse_known_args(words)
    else:
        parser = build_parser(named)
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                args, extra = parser.parse_known_args(words)
        except UsageError:   # said by the whole parser, whose choices of verb are all of them
            parser = build_parser()
            args, extra = parser.parse_known_args(words)
    if extra and args.verb != "up":
        parser.verb_parsers[args.verb].error(f"unrecognized arguments: {' '.join(extra)}")
    return parser, args, extra


def run_up(words: list[str]) -> int:
    from coordinator.up import fleet
    up = ArgumentParser(prog="cachefleet up", description=fleet.SUMMARY)
    fleet.add_arguments(up)
    return fleet.run(up.parse_args(words))


def run_help(parser: ArgumentParser, topic: str | None) -> int:
    if topic is None:
        parser.print_help()
    elif topic == "up":
        return run_up(["--help"])
    elif topic in parser.verb_parsers:
        parser.verb_parsers[topic].print_help()
    else:
        parser.print_usage(sys.stderr)
        raise UsageError(f"no verb {topic!r}; `cachefleet help` lists them")
    return 0


def build_request(verb: Verb, args: argparse.Namespace) -> Message:
    values: dict[str, Any] = {}
    for fd in verb.request_descriptor.fields:
        given = getattr(args, _field_dest(fd), None)
        if given is None:
            continue
        option = "--" + kebab(fd.name)
        if isinstance(given, bool):
            values[fd.name] = given
            continue
        try:
            words = given if isinstance(given, list) else [given]
            values[fd.name] = to_field_value(fd, option_value(fd, words), "")
        except ParamError as exc:
            raise UsageError(f"argument {option}: {exc}") from None
    try:
        return json_format.ParseDict(values, verb.request())
    except json_format.ParseError as exc:
        raise UsageError(str(exc)) from None


# --- calling the coordinator ---

_CODE = re.compile(r"([A-Z][A-Za-z0-9.]*): (.*)", re.S)
LEADER_METADATA = "cachefleet-leader"   # where a coordinator that does not lead names the leader
MAX_REDIRECTS = 2    # a leader that changes twice during one command: the caller hears NotLeader


def leader_of(exc: grpc.RpcError) -> str:
    """The leader's endpoint a NotLeader answer names; "" for any other answer."""
    if exc.code() != grpc.StatusCode.FAILED_PRECONDITION or not (exc.details() or "").startswith("NotLeader:"):
        return ""
    trailing = getattr(exc, "trailing_metadata", None)
    for key, value in (trailing() if callable(trailing) else None) or ():
        if key == LEADER_METADATA and isinstance(value, str):
            return value
    return ""


class Client:
    """Calls by method path, the message classes taken from the service descriptors: the
    generated *_pb2_grpc stubs would add their import to every command for nothing.

    A coordinator that does not lead answers what only the leader answers with
    FAILED_PRECONDITION `NotLeader` and the leader's endpoint in the trailing metadata
    `cachefleet-leader`: with `opener`, the call is made again at once at the leader, and the
    calls after it go there too."""

    def __init__(self, channel: grpc.Channel, endpoint: str, timeout: float,
                 opener: Callable[[str], grpc.Channel] | None = None) -> None:
        self._opener = opener
        self._opened: list[grpc.Channel] = []   # channels to leaders this client was sent to
        self._use(channel, endpoint)
        self._timeout = timeout

    def _use(self, channel: grpc.Channel, endpoint: str) -> None:
        self._channel = channel
        self._endpoint = endpoint

    def _redirected(self, exc: grpc.RpcError) -> bool:
        """Follow a NotLeader answer to the leader it names; True if this client now talks to it."""
        leader = leader_of(exc)
        if self._opener is None or not leader or leader == self._endpoint or len(self._opened) >= MAX_REDIRECTS:
            return False
        channel = self._opener(leader)
        self._opened.append(channel)
        self._use(channel, leader)
        return True

    def close(self) -> None:
        for channel in self._opened:
            channel.close()

    def _method(self, rpc: str, request: Message, service, kind: str):
        method = (service or SERVICE).methods_by_name[rpc]
        return getattr(self._channel, kind)(f"/{method.containing_service.full_name}/{rpc}",
                                            request_serializer=type(request).SerializeToString,
                                            response_deserializer=message_class(method.output_type).FromString)

    def call(self, rpc: str, request: Message, service=None) -> Message:
        """Call rpc of CacheControl, or of another service (CacheWatch) when named."""
        while True:
            try:
                return self._method(rpc, request, service, "unary_unary")(request, timeout=self._timeout)
            except grpc.RpcError as exc:
                if not self._redirected(exc):
                    raise self._translate(rpc, exc) from None

    def stream(self, rpc: str, request: Message):
        """A server-streaming RPC's messages as they come (no deadline: it runs until Ctrl-C).
        The call is cancelled however the loop ends, so a Ctrl-C never leaves gRPC's threads
        holding the process open at exit."""
        while True:
            call = self._method(rpc, request, None, "unary_stream")(request)
            received = False
            try:
                for message in call:
                    received = True
                    yield message
                return
            except grpc.RpcError as exc:
                if received or not self._redirected(exc):
                    raise self._translate(rpc, exc) from None
            finally:
                call.cancel()

    def _translate(self, rpc: str, exc: grpc.RpcError) -> Exception:
        code, details = exc.code(), exc.details() or ""
        match = _CODE.fullmatch(details)
        if match:
            return ServiceError(match.group(1), rpc, match.group(2), code)
        if code == grpc.StatusCode.UNAVAILABLE:
            return CliError(f'Could not connect to the endpoint "{self._endpoint}": {details}\n'
                            "Is the coordinator running? `cachefleet up` starts a local fleet; "
                            "--endpoint or CACHEFLEET_ENDPOINT names another.")
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return CliError(f'Read timeout on endpoint "{self._endpoint}": no answer to {rpc} '
                            f"within {self._timeout:g} s (--cli-read-timeout)")
        return ServiceError(pascal(code.name.lower()), rpc, details, code)

    def resource_status(self, waiter: Waiter, resource_id: str) -> Message | None:
        """The resource as describe_rpc shows it now; None when it is gone."""
        try:
            response = self.call(waiter.describe_rpc, describe_request(waiter, resource_id))
        except ServiceError as exc:
            if waiter.until == GONE and exc.status == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        items = getattr(response, waiter.list_field)
        return items[0] if items else None


def wait(client: Client, verb: Verb, request: Message, timeout: float) -> Message | None:
    """Poll every POLL_INTERVAL until the verb's waiter is satisfied; the resource's last state."""
    waiter = verb.waiter
    assert waiter is not None
    resource_id = getattr(request, waiter.id_field)
    deadline = time.monotonic() + timeout
    while True:
        resource = client.resource_status(waiter, resource_id)
        status = getattr(resource, waiter.status_field) if resource is not None else GONE
        if status == waiter.until or (waiter.until == GONE and status == "deleted"):
            return resource
        if status in waiter.failed:
            raise CliError(f"Waiter {waiter.name} failed: Waiter encountered a terminal failure "
                           f"state: {resource_id} is {status}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CliError(f"Waiter {waiter.name} failed: Max wait time exceeded "
                           f"({timeout:g} s, --wait-timeout): {resource_id} is {status}")
        time.sleep(min(POLL_INTERVAL, remaining))


# --- main ---

def _print(response: Message, verb: Verb, args: argparse.Namespace, next_token: str = "") -> None:
    data: Any = to_aws(response)
    if next_token:
        data["NextToken"] = next_token
    _emit(data, args, verb.rpc)


def _emit(data: Any, args: argparse.Namespace, title: str) -> None:
    """Print data as --output says, after --query."""
    if args.query:
        import jmespath  # only --query needs it: imported then, not on every call
        try:
            data = jmespath.search(args.query, data)
        except jmespath.exceptions.JMESPathError as exc:
            raise UsageError(f"argument --query: {exc}") from None
    if data is not None:
        sys.stdout.write(render(data, args.output, title))


def _paginates(verb: Verb, args: argparse.Namespace) -> paging.Pages | None:
    """The verb's pages when the CLI is to follow them: not with --no-paginate, nor when the
    service's own --marker or --max-records is given (aws-cli turns pagination off then)."""
    verb_pages = pages(verb)
    if verb_pages is None:
        return None
    one_page = ["--no-paginate"] if args.no_paginate else []
    one_page += [f"--{kebab(name)}" for name in ("marker", "max_records") if getattr(args, f"field:{name}") is not None]
    going_on = [f"--{kebab(name)}" for name in paging.OPTIONS[1:] if getattr(args, name) is not None]
    if one_page and going_on:
        raise UsageError(f"{', '.join(going_on)} cannot be combined with {', '.join(one_page)} (one page)")
    return None if one_page else verb_pages


def run(argv: Sequence[str] | None) -> int:
    parser, args, extra = parse(argv)
    if args.verb == "up":
        return run_up(extra)
    if args.verb == "help":
        return run_help(parser, args.topic)
    if args.verb == "top":
        from coordinator.cli import top as cli_top
        return cli_top.run(args, Client)
    if args.verb == "ca":
        from coordinator.cli import ca as cli_ca
        try:
            _emit(cli_ca.run(args), args, "Ca" + args.ca_verb.title())
        except cli_ca.CaFailure as exc:
            raise CliError(str(exc)) from None
        return 0
    if args.verb == "state-store":
        from coordinator.cli import statestore as cli_statestore
        try:
            _emit(cli_statestore.run(args), args, "StateStoreCopy")
        except cli_statestore.StoreFailure as exc:
            raise CliError(str(exc)) from None
        return 0
    verb = VERBS_BY_NAME[args.verb]
    request = build_request(verb, args)
    endpoint = args.endpoint or os.environ.get("CACHEFLEET_ENDPOINT") or default_endpoint()
    try:
        endpoint, channel = connect.open_any(args, endpoint)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    with channel, contextlib.closing(Client(channel, endpoint, args.cli_read_timeout,
                                           opener=lambda leader: connect.open_channel(args, leader))) as client:
        if verb.streams or getattr(args, "follow", False):   # watch-events, describe-events --follow
            from coordinator.cli import follow as cli_follow
            given = [f"--{name.replace('_', '-')}" for name in paging.OPTIONS if getattr(args, name, None)]
            if given:
                raise UsageError(f"--follow cannot be combined with {', '.join(given)}: it streams events "
                                 "until Ctrl-C")
            if not verb.streams:
                verb, request = VERBS_BY_NAME[kebab(verb.follow)], cli_follow.follow_request(
                    request, VERBS_BY_NAME[kebab(verb.follow)].request())
            import jmespath
            return cli_follow.print_stream(client.stream(verb.rpc, request), args, jmespath.search)
        next_token = ""
        verb_pages = _paginates(verb, args)
        if verb_pages is not None:
            response, next_token = paging.collect(lambda page: client.call(verb.rpc, page, verb.service), request,
                                                  verb_pages, args.max_items, args.starting_token, args.page_size)
        else:
            response = client.call(verb.rpc, request, verb.service)
        if getattr(args, "wait", False) and verb.waiter is not None:
            resource = wait(client, verb, request, args.wait_timeout)
            if resource is not None and verb.result:
                response = verb.response(**{verb.result: resource})
    _print(response, verb, args, next_token)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The console script. Never shows a stack trace."""
    try:
        return run(argv)
    except UsageError as exc:
        print(f"cachefleet: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ServiceError as exc:
        print(f"\n{exc}", file=sys.stderr)
        return EXIT_SERVICE
    except CliError as exc:
        print(f"\n{exc}", file=sys.stderr)
        return EXIT_OTHER
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - the promise is no stack traces, ever
        print(f"\ncachefleet: unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_OTHER


if __name__ == "__main__":
    sys.exit(main())
