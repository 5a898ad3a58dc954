"""What the Gremlin stand-in accepts as `command` of `POST /attacks/new`: the attack types and their CLI args.

The flags are those of Gremlin's attack parameter reference and of the `gremlinapi` SDK's
attack helpers (attack_helpers.py), which build these very argument lists; values are
checked as the SDK checks them (counts >= 1, percentages 1..100, ports like `^53` or
`8080-8085`, length 1..31449600 s). A flag the attack does not know, a missing or badly
typed value, or a flag given twice is a 400 naming the argument.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_LENGTH = 31_449_600  # about a year, the SDK's bound
DEFAULT_LENGTH = 60  # what Gremlin runs when no length is given

COMMAND_TYPES = {
    "cpu": "CPU", "memory": "Memory", "disk": "Disk", "io": "IO", "shutdown": "Shutdown",
    "time_travel": "Time Travel", "process_killer": "Process Killer", "blackhole": "Blackhole", "dns": "DNS",
    "latency": "Latency", "packet_loss": "Packet Loss",
}

_PORT = r"([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_PORT_RE = re.compile(rf"^\^?{_PORT}(-{_PORT})?$")

_NETWORK = {"-i": "text", "-d": "text", "-P": "protocol"}
FLAGS: dict[str, dict[str, str]] = {
    "cpu": {"-c": "count", "-p": "percent", "-a": "switch"},
    "memory": {"-m": "count", "-g": "count", "-p": "percent"},
    "disk": {"-d": "text", "-w": "count", "-b": "count", "-p": "percent"},
    "io": {"-c": "count", "-d": "text", "-m": "io_mode", "-s": "count", "-w": "count"},
    "shutdown": {"-d": "minutes", "-r": "switch"},
    "time_travel": {"-o": "integer", "-n": "switch"},
    "process_killer": {"-i": "count", "-g": "text", "-p": "text", "-u": "text", "-e": "switch", "-f": "switch",
                       "-c": "switch", "-n": "switch", "-o": "switch"},
    "blackhole": {**_NETWORK, "-h": "text", "-p": "ports", "-n": "ports"},
    "dns": {"-i": "text", "-d": "text", "-P": "dns_protocol"},
    "latency": {**_NETWORK, "-m": "count", "-h": "text", "-p": "ports", "-s": "ports"},
    "packet_loss": {**_NETWORK, "-r": "percent", "-c": "switch", "-h": "text", "-p": "ports", "-s": "ports"},
}
WITHOUT_LENGTH = {"shutdown"}  # a shutdown happens once, after its delay; the SDK sends it no length


class ArgsError(ValueError):
    """A command the API refuses with 400; the message says which argument and why."""


@dataclass
class Command:
    type: str
    args: list[str]
    length: int | None  # seconds the attack runs; None for shutdown
    options: dict[str, str | bool] = field(default_factory=dict)

    @property
    def display(self) -> str:
        return COMMAND_TYPES[self.type]


def parse_command(doc: object, require_length: bool) -> Command:
    if not isinstance(doc, dict):
        raise ArgsError("command must be an object with type and args")
    kind = doc.get("type")
    if not isinstance(kind, str) or kind not in COMMAND_TYPES:
        raise ArgsError(f"invalid attack type {kind!r}, expected one of {', '.join(COMMAND_TYPES)}")
    args = doc.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ArgsError("command.args must be a list of strings, e.g. [\"-l\", \"60\", \"-c\", \"1\"]")
    spec = FLAGS[kind]
    options: dict[str, str | bool] = {}
    length: int | None = None
    i = 0
    while i < len(args):
        arg = args[i]
        flag, inline = arg, None
        if arg.startswith("--") and "=" in arg:
            flag, inline = arg.split("=", 1)
        if flag in ("-l", "--length") and kind not in WITHOUT_LENGTH:
            value, i = _value(args, i, flag, inline)
            if length is not None:
                raise ArgsError(f"{kind}: --length given twice")
            length = _integer(flag, value, 1, MAX_LENGTH)
            continue
        kind_of = spec.get(flag)
        if kind_of is None:
            raise ArgsError(f"{kind}: unknown argument {arg!r} (known: {', '.join(sorted(spec))}"
                            f"{'' if kind in WITHOUT_LENGTH else ', -l/--length'})")
        if flag in options:
            raise ArgsError(f"{kind}: {flag} given twice")
        if kind_of == "switch":
            options[flag] = True
            i += 1
            continue
        value, i = _value(args, i, flag, inline)
        options[flag] = _check(kind, flag, kind_of, value)
    if kind == "memory" and sum(f in options for f in ("-m", "-g", "-p")) > 1:
        raise ArgsError("memory: give one amount: -m MB, -g GB or -p percent")
    if kind == "process_killer" and "-p" not in options:
        raise ArgsError("process_killer: -p PROCESS is required")
    if kind not in WITHOUT_LENGTH and length is None:
        if require_length:
            raise ArgsError(f"{kind}: -l/--length SECONDS is required by this stand-in (the real service "
                            f"runs {DEFAULT_LENGTH} s without one)")
        length = DEFAULT_LENGTH
    return Command(kind, list(args), length, options)


def _value(args: list[str], i: int, flag: str, inline: str | None) -> tuple[str, int]:
    if inline is not None:
        return inline, i + 1
    if i + 1 >= len(args) or (args[i + 1].startswith("-") and not args[i + 1].lstrip("-").isdigit()):
        raise ArgsError(f"{flag} needs a value")
    return args[i + 1], i + 2


def _integer(flag: str, value: str, low: int | None = None, high: int | None = None) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ArgsError(f"{flag} needs an integer, got {value!r}") from None
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise ArgsError(f"{flag} must be {bounds}, got {number}")
    return number


def _check(kind: str, flag: str, kind_of: str, value: str) -> str:
    if kind_of == "count":
        _integer(flag, value, 1)
    elif kind_of == "percent":
        _integer(flag, value, 1, 100)
    elif kind_of == "minutes":
        _integer(flag, value, 0)
    elif kind_of == "integer":
        _integer(flag, value)
    elif kind_of == "io_mode" and value.lower() not in ("r", "w", "rw"):
        raise ArgsError(f"{kind}: {flag} must be r, w or rw, got {value!r}")
    elif kind_of == "protocol" and value.upper() not in ("TCP", "UDP", "ICMP"):
        raise ArgsError(f"{kind}: {flag} must be TCP, UDP or ICMP, got {value!r}")
    elif kind_of == "dns_protocol" and value.upper() not in ("TCP", "UDP"):
        raise ArgsError(f"{kind}: {flag} must be TCP or UDP, got {value!r}")
    elif kind_of == "ports":
        for port in value.split(","):
            if not _PORT_RE.match(port):
                raise ArgsError(f"{kind}: {flag} {port!r} is not a valid port or port range")
    elif kind_of == "text" and not value:
        raise ArgsError(f"{kind}: {flag} needs a value")
    return value
