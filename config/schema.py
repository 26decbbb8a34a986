"""Every configuration key: its default and the converter that checks it.

A converter takes the raw TOML value and returns the typed value, or raises `Invalid`
with a message that names the allowed values. The shipped `printstation.toml` documents
the same keys; a test keeps the two in step.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any


class Invalid(ValueError):
    """A value is not allowed; the message says what is."""


Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class Key:
    default: Any
    convert: Converter
    required: bool = False


def text(pattern: str | None = None, hint: str = "") -> Converter:
    compiled = re.compile(pattern) if pattern else None

    def convert(value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid(f"must be a string{hint}, got {_show(value)}")
        if compiled and value and not compiled.fullmatch(value):
            raise Invalid(f"must match {hint or pattern}, got {value!r}")
        return value

    return convert


def integer(lo: int, hi: int) -> Converter:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be a whole number from {lo} to {hi}, got {_show(value)}")
        if not lo <= value <= hi:
            raise Invalid(f"must be from {lo} to {hi}, got {value}")
        return value

    return convert


def choice(*allowed: str) -> Converter:
    def convert(value: Any) -> str:
        if value not in allowed:
            names = ", ".join(f'"{a}"' for a in allowed)
            raise Invalid(f"must be one of {names}, got {_show(value)}")
        return value

    return convert


def flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"must be true or false, got {_show(value)}")
    return value


def money(value: Any) -> Decimal:
    """Money is written as a decimal string ("100000.00"); whole numbers are accepted too."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Invalid(f'must be a decimal string such as "100000.00", got {_show(value)}')
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise Invalid(f'must be a decimal string such as "100000.00", got {value!r}') from None
    if not amount.is_finite() or amount < 0:
        raise Invalid(f"must be a finite amount of 0 or more, got {value!r}")
    return amount


def money_list(value: Any) -> tuple[Decimal, ...]:
    if not isinstance(value, list) or not value:
        raise Invalid(f'must be a non-empty list of decimal strings, got {_show(value)}')
    rates = tuple(money(v) for v in value)
    if any(r >= 1 for r in rates):
        raise Invalid("rates are fractions below 1, such as \"0.13\"")
    return rates


def name_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
        raise Invalid(f"must be a non-empty list of strings, got {_show(value)}")
    return tuple(value)


def offsets(value: Any) -> dict[str, tuple[float, float]]:
    """Per-stock offsets in mm: 0.1 mm resolution, each within ±30 mm."""
    if not isinstance(value, dict):
        raise Invalid("must be a table such as { vat-special = [1.5, -0.5] }, "
                      f"got {_show(value)}")
    result: dict[str, tuple[float, float]] = {}
    for stock, pair in value.items():
        if not isinstance(pair, list) or len(pair) != 2:
            raise Invalid(f"{stock}: must be [x, y] in mm, got {_show(pair)}")
        coords = []
        for v in pair:
            if isinstance(v, bool) or not isinstance(v, int | Decimal):
                raise Invalid(f"{stock}: must be numbers in mm, got {_show(v)}")
            d = Decimal(v)
            if abs(d) > 30:
                raise Invalid(f"{stock}: each offset must be from -30 to 30 mm, got {v}")
            if d != d.quantize(Decimal("0.1")):
                raise Invalid(f"{stock}: offsets have 0.1 mm resolution, got {v}")
            coords.append(float(d))
        result[stock] = (coords[0], coords[1])
    return result


def _show(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def is_loopback(host: str) -> bool:
    """Whether a URL's host (a name or an address) is this machine."""
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_refusal(url: str, allowed: bool) -> str | None:
    """Why `sync.url` may not be used as it is, or None.

    Over plain http the bearer token and every journal event cross the network in clear,
    and an answer can be forged on the way; that is acceptable only to this machine (a
    test, a local tunnel) or when the operator says so (`allow_plain_http`, e.g. inside
    a VPN).
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "http" or allowed or is_loopback(parts.hostname or ""):
        return None
    return (f"plain http:// to {parts.hostname or '?'}, which is not this machine, would "
            "send the token and the journal unencrypted: use https://, or set "
            "[sync] allow_plain_http = true (e.g. inside a VPN)")


def command(value: Any) -> tuple[str, ...]:
    """A program and its arguments, split as a shell would (no shell runs it): "" for
    none, else the program by its absolute path (a service's PATH is not a login's)."""
    if not isinstance(value, str):
        raise Invalid(f'must be a string such as "/usr/local/bin/alert --to it", '
                      f"got {_show(value)}")
    try:
        words = tuple(shlex.split(value))
    except ValueError as exc:
        raise Invalid(f"cannot be split into words: {exc}") from None
    if words and not words[0].startswith("/"):
        raise Invalid(f"must name the program by its absolute path, got {words[0]!r}")
    return words


def split_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (an IPv6 address in brackets: `[::1]:8631`) as (host, port); `Invalid`
    says the form when it is not one."""
    host, colon, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            host = ""
    if not colon or not host or not _LISTEN_HOST.fullmatch(host) or not port.isdigit() \
            or not 1 <= int(port) <= 65535:
        raise Invalid(f'must be HOST:PORT such as "127.0.0.1:8631" (an IPv6 address in '
                      f'brackets: "[::1]:8631"), got {value!r}')
    return host, int(port)


def listen(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(f'must be a string such as "127.0.0.1:8631", got {_show(value)}')
    split_listen(value)
    return value


_LISTEN_HOST = re.compile(r"[A-Za-z0-9.:_-]{1,253}")
STATION_ID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
# A system user's name as useradd takes it.
USER_NAME = r"[a-z_][a-z0-9_-]{0,31}"
PRINTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")

# Section -> key -> Key. Paths are plain strings here; the loader resolves them.
SECTIONS: dict[str, dict[str, Key]] = {
    "station": {
        "id": Key("", text(STATION_ID, " of letters, digits, '.', '_', '-' (max 64)"), True),
        "data_dir": Key("/var/lib/printstation", text()),
        "seller_tin": Key("", text(r"[0-9A-Z]{15,20}", " of 15-20 characters 0-9 A-Z")),
    },
    "intake": {
        "drop_dir": Key("/srv/printstation/inbox", text()),
        "rejected_dir": Key("", text()),
        "results_dir": Key("", text()),
        "settle_ms": Key(500, integer(50, 600_000)),
        "rescan_s": Key(10, integer(1, 3600)),
        "observer": Key("inotify", choice("inotify", "polling")),
        "max_file_mb": Key(20, integer(1, 1024)),
    },
    "validation": {
        "max_total": Key("100000.00", money),
        "line_tax_tolerance": Key("0.06", money),
        "invoice_tax_tolerance": Key("1.27", money),
        "rates": Key(["0.13", "0.09", "0.06", "0.05", "0.03", "0.01", "0"], money_list),
    },
    "cups": {
        "server": Key("", text()),
    },
    "sync": {
        "url": Key("", text(r"https?://\S+", " an http(s):// URL")),
        "token_file": Key("/etc/printstation/token", text()),
        "batch": Key(500, integer(1, 10_000)),
        "backoff_max_s": Key(300, integer(1, 86_400)),
        "timeout_s": Key(10, integer(1, 600)),
        "ca_file": Key("", text()),
        "allow_plain_http": Key(False, flag),
    },
    "offline": {
        "max_hours": Key(0, integer(0, 24 * 365)),
        "max_total": Key("0", money),
    },
    "render": {
        "worker": Key("auto", choice("auto", "off")),
    },
    "metrics": {
        "path": Key("", text()),
    },
    "alerts": {
        "command": Key("", command),
        "webhook": Key("", text(r"https?://\S+", " an http(s):// URL")),
        "low_sheets": Key(20, integer(0, 100_000)),
        "behind_s": Key(3600, integer(0, 30 * 86_400)),
    },
    "retention": {
        "archive_days": Key(0, integer(0, 36_500)),
        "rejected_days": Key(90, integer(0, 36_500)),
        "results_days": Key(30, integer(0, 36_500)),
    },
    "web": {
        "listen": Key("127.0.0.1:8631", listen),
        "users_file": Key("/etc/printstation/web-users", text()),
        "user": Key("printstation-web", text(USER_NAME, " (a system user's name)")),
        "secret_file": Key("/var/lib/printstation-web/secret", text()),
    },
}

# Keys of each [printers.NAME] table.
PRINTER_KEYS: dict[str, Key] = {
    "driver": Key("cups", choice("cups", "directory")),
    "queue": Key("", text(r"[^\s/#]{1,127}", " a CUPS queue name")),
    "path": Key("", text()),
    "stocks": Key(None, name_list, True),
    "paper_check": Key("off", choice("off", "match", "assign")),
    "in_flight": Key(2, integer(1, 50)),
    "max_attempts": Key(10, integer(1, 1000)),
    "offsets": Key({}, offsets),
}
