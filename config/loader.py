"""Find, layer and check the configuration; build the frozen `Settings`.

Order (SPEC §3, §4): `--config PATH`, else `$PRINTSTATION_CONFIG`, else
`/etc/printstation/printstation.toml`; with none of them, the built-in defaults (everything
under `./printstation-data/`, one `directory` printer). The main file is followed by
`conf.d/*.toml` beside it, in name order; later files override single keys. Every problem
is collected and reported together as `FILE: KEY: message`; nothing falls back silently.
Over them go the offsets clerks set, which the daemon keeps in `data_dir/calibration.toml`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

from printstation.base.errors import ConfigInvalid

from . import offset_file, schema
from .settings import (
    AlertSettings,
    CupsSettings,
    IntakeSettings,
    MetricsSettings,
    OfflineSettings,
    PrinterSettings,
    RenderSettings,
    RetentionSettings,
    Settings,
    StationSettings,
    SyncSettings,
    ValidationSettings,
    WebSettings,
)
from .stocks import Stock, load_stocks

SYSTEM_CONFIG = Path("/etc/printstation/printstation.toml")
BUILTIN = "built-in defaults"

# The embedded configuration used when no file exists: a first run needs nothing prepared.
BUILTIN_TOML = """
[station]
id = "LOCAL"
data_dir = "printstation-data"

[intake]
drop_dir = "printstation-data/inbox"
rejected_dir = "printstation-data/rejected"
results_dir = "printstation-data/results"

[printers.pdf]
driver = "directory"
path = "printstation-data/printed"
stocks = ["vat-special", "vat-ordinary", "vat-roll-76", "einvoice"]

[web]
users_file = "printstation-data/web-users"
secret_file = "printstation-data/web-secret"
"""


@dataclass(frozen=True)
class Problem:
    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}"


class ConfigError(ConfigInvalid):
    """The configuration is invalid; `problems` lists every error found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def find_config(explicit: str | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """The main config file to read, or None for the built-in defaults."""
    environ = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if environ.get("PRINTSTATION_CONFIG"):
        return Path(environ["PRINTSTATION_CONFIG"])
    if SYSTEM_CONFIG.exists():
        return SYSTEM_CONFIG
    return None


@dataclass(frozen=True)
class Config:
    """One configuration, frozen: the settings and the stock layouts checked with them.

    The daemon holds one and swaps it whole on reload, in a single assignment, so no
    stage ever sees new settings with old stocks.
    """

    settings: Settings
    stocks: Mapping[str, Stock]


def load_settings(path: Path | None, cwd: Path | None = None) -> Settings:
    """The settings alone, for commands that need no stock layout."""
    return load_config(path, cwd).settings


def load_config_for_reading(path: Path | None,
                            cwd: Path | None = None) -> tuple[Config, list[Problem]]:
    """The configuration for a command that only reads (status, queue, show, journal…).

    A broken `conf.d` drop-in must not keep a clerk from looking at the queue while the
    daemon runs on the config it loaded before: when every problem lies in drop-ins, the
    configuration is read again without them, and their problems are returned for a
    warning. A broken main file or stock layout, or a config still broken without the
    drop-ins, fails as `load_config` does. Commands that change something never use this.
    """
    try:
        return load_config(path, cwd), []
    except ConfigError as exc:
        dropins = {str(f) for f in _files(path, cwd)[2] if f.parent.name == "conf.d"}
        broken = {p.file for p in exc.problems}
        if not broken <= dropins:
            raise
        try:
            return load_config(path, cwd, skip=frozenset(broken)), exc.problems
        except ConfigError:
            raise exc from None


def _files(path: Path | None, cwd: Path | None) -> tuple[Path, Path, list[Path]]:
    """The base folder of relative paths, the folder of conf.d/ and stocks/, and the
    config files to read in order (the built-in defaults are not a file)."""
    if path is None:
        base = (cwd or Path.cwd()).resolve()
        config_dir = base / "printstation-data"
        return base, config_dir, sorted((config_dir / "conf.d").glob("*.toml"))
    path = path if path.is_absolute() else (cwd or Path.cwd()) / path
    base = path.parent.resolve()
    return base, base, [path, *sorted((path.parent / "conf.d").glob("*.toml"))]


def load_config(path: Path | None, cwd: Path | None = None,
                skip: frozenset[str] = frozenset()) -> Config:
    """Read and check the configuration at `path` (None: built-in defaults) and the stock
    layouts, each once; `skip` names drop-ins to leave out (`load_config_for_reading`)."""
    layers: list[tuple[str, dict[str, Any]]] = []
    problems: list[Problem] = []
    if path is None:
        layers.append((BUILTIN, tomllib.loads(BUILTIN_TOML, parse_float=Decimal)))
    else:
        path = path if path.is_absolute() else (cwd or Path.cwd()) / path
    base, config_dir, files = _files(path, cwd)
    for file in files:
        if str(file) in skip:
            continue
        try:
            with open(file, "rb") as fh:
                layers.append((str(file), tomllib.load(fh, parse_float=Decimal)))
        except FileNotFoundError:
            problems.append(Problem(str(file), "-", "file not found"))
        except PermissionError:
            problems.append(Problem(str(file), "-", "permission denied"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(file), "-", f"not valid TOML: {exc}"))
    if problems:
        raise ConfigError(problems)

    merged, origin = _merge(layers)
    stocks, stock_problems = load_stocks(config_dir / "stocks")
    problems.extend(Problem(p.file, p.key, p.message) for p in stock_problems)
    builder = _Builder(merged, origin, base, stocks, default_file=layers[0][0])
    settings = builder.build(tuple(name for name, _ in layers), config_dir, path)
    problems.extend(builder.problems)
    if problems:
        raise ConfigError(problems)
    # The offsets clerks set (data_dir/calibration.toml, kept by the daemon) win over the
    # config's, which stay the defaults; an entry the config cannot take is logged and
    # left out, never an error of the config (config/offset_file.py).
    return Config(offset_file.merged(settings, stocks), MappingProxyType(stocks))


def _merge(layers: list[tuple[str, dict[str, Any]]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge tables key by key; remember which file set each dotted key last."""
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}

    def merge(into: dict[str, Any], layer: dict[str, Any], prefix: str, file: str) -> None:
        for key, value in layer.items():
            dotted = f"{prefix}{key}"
            # Offsets are one value per printer (a table of stocks), merged stock by stock.
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value, dotted + ".", file)
            else:
                into[key] = value
            origin[dotted] = file

    for file, layer in layers:
        merge(merged, layer, "", file)
    return merged, origin


class _Builder:
    """Turns the merged raw tables into `Settings`, collecting problems as it goes."""

    def __init__(self, raw: dict[str, Any], origin: dict[str, str], base: Path,
                 stocks: dict[str, Stock], default_file: str):
        self.raw, self.origin, self.base, self.stocks = raw, origin, base, stocks
        self.default_file = default_file
        self.problems: list[Problem] = []

    def file_of(self, dotted: str) -> str:
        while dotted:
            if dotted in self.origin:
                return self.origin[dotted]
            dotted = dotted.rpartition(".")[0]
        return self.default_file

    def fail(self, dotted: str, message: str) -> None:
        self.problems.append(Problem(self.file_of(dotted), dotted, message))

    def section(self, name: str, keys: dict[str, schema.Key], table: Any, prefix: str) -> dict:
        values: dict[str, Any] = {}
        if not isinstance(table, dict):
            self.fail(prefix.rstrip("."), f"must be a table, got {type(table).__name__}")
            table = {}
        for key in table:
            if key not in keys:
                allowed = ", ".join(sorted(keys))
                self.fail(prefix + key, f"unknown key (allowed in [{name}]: {allowed})")
        for key, spec in keys.items():
            if key not in table:
                if spec.required:
                    self.fail(prefix + key, "required")
                values[key] = spec.default if spec.default is None else spec.convert(spec.default)
                continue
            try:
                values[key] = spec.convert(table[key])
            except schema.Invalid as exc:
                self.fail(prefix + key, str(exc))
                values[key] = None if spec.default is None else spec.convert(spec.default)
        return values

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base / p

    def build(self, origin: tuple[str, ...], config_dir: Path, main_file: Path | None) -> Settings:
        known = {*schema.SECTIONS, "printers"}
        for name in self.raw:
            if name not in known:
                self.fail(name, f"unknown section (allowed: {', '.join(sorted(known))})")
        v = {name: self.section(name, keys, self.raw.get(name, {}), name + ".")
             for name, keys in schema.SECTIONS.items()}

        station = StationSettings(v["station"]["id"], self.path(v["station"]["data_dir"]),
                                  v["station"]["seller_tin"])
        i = v["intake"]
        drop = self.path(i["drop_dir"])
        intake = IntakeSettings(
            drop_dir=drop,
            rejected_dir=self.path(i["rejected_dir"]) if i["rejected_dir"]
            else drop.parent / "rejected",
            results_dir=self.path(i["results_dir"]) if i["results_dir"]
            else drop.parent / "results",
            settle_ms=i["settle_ms"], rescan_s=i["rescan_s"], observer=i["observer"],
            max_file_mb=i["max_file_mb"],
        )
        # Compared as the paths resolve ("data/../inbox" is the inbox): a results folder
        # that is the drop folder would take its own result files as invoices for ever.
        folders = [os.path.normpath(os.path.realpath(p)) for p in
                   (intake.drop_dir, intake.rejected_dir, intake.results_dir,
                    station.data_dir)]
        if len(set(folders)) < 4:
            self.fail("intake", "drop_dir, rejected_dir, results_dir and station.data_dir "
                      "must be different folders")
        s = v["sync"]
        refusal = schema.plain_http_refusal(s["url"], s["allow_plain_http"]) if s["url"] \
            else None
        if refusal:
            self.fail("sync.url", refusal)
        return Settings(
            station=station,
            intake=intake,
            validation=ValidationSettings(**v["validation"]),
            cups=CupsSettings(**v["cups"]),
            printers=self.printers(self.raw.get("printers", {})),
            sync=SyncSettings(s["url"], self.path(s["token_file"]), s["batch"],
                              s["backoff_max_s"], s["timeout_s"],
                              self.path(s["ca_file"]) if s["ca_file"] else None,
                              s["allow_plain_http"]),
            offline=OfflineSettings(**v["offline"]),
            origin=origin,
            config_dir=config_dir,
            main_file=main_file,
            metrics=MetricsSettings(self.path(v["metrics"]["path"]) if v["metrics"]["path"]
                                    else None),
            alerts=AlertSettings(**v["alerts"]),
            retention=RetentionSettings(**v["retention"]),
            web=WebSettings(v["web"]["listen"], self.path(v["web"]["users_file"]),
                            v["web"]["user"], self.path(v["web"]["secret_file"])),
            render=RenderSettings(**v["render"]),
        )

    def printers(self, tables: Any) -> tuple[PrinterSettings, ...]:
        if not isinstance(tables, dict) or not tables:
            self.fail("printers", "at least one [printers.NAME] table is required")
            return ()
        result = []
        for name, table in tables.items():
            prefix = f"printers.{name}."
            if not schema.PRINTER_NAME.fullmatch(name):
                self.fail(prefix.rstrip("."), "printer names are letters, digits, '_', '-'")
            p = self.section("printers." + name, schema.PRINTER_KEYS, table, prefix)
            if p["driver"] == "cups" and not p["queue"]:
                self.fail(prefix + "queue", 'required when driver = "cups"')
            if p["driver"] == "directory" and not p["path"]:
                self.fail(prefix + "path", 'required when driver = "directory"')
            stocks = p["stocks"] or ()
            for stock in stocks:
                if stock not in self.stocks:
                    self.fail(prefix + "stocks",
                              f"unknown stock {stock!r} (known: {', '.join(sorted(self.stocks))})")
            for stock, (dx, dy) in p["offsets"].items():
                if stock not in stocks:
                    self.fail(prefix + "offsets",
                              f"offset for {stock!r}, which is not in this printer's stocks")
                elif stock in self.stocks and (lost := self.stocks[stock].off_page(dx, dy)):
                    self.fail(prefix + "offsets",
                              f"{stock}: [{dx:g}, {dy:g}] would move {', '.join(lost[:3])}"
                              f"{' …' if len(lost) > 3 else ''} off the page")
            result.append(PrinterSettings(
                name=name, driver=p["driver"], queue=p["queue"],
                path=self.path(p["path"]) if p["path"] else None, stocks=tuple(stocks),
                paper_check=p["paper_check"], in_flight=p["in_flight"], offsets=p["offsets"],
                max_attempts=p["max_attempts"],
            ))
        return tuple(result)
