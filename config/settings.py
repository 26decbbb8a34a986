"""The frozen settings object every other layer reads; built only by the loader."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path


@dataclass(frozen=True)
class StationSettings:
    id: str
    data_dir: Path
    seller_tin: str


@dataclass(frozen=True)
class IntakeSettings:
    drop_dir: Path
    rejected_dir: Path
    results_dir: Path
    settle_ms: int
    rescan_s: int
    observer: str
    max_file_mb: int


@dataclass(frozen=True)
class ValidationSettings:
    max_total: Decimal
    line_tax_tolerance: Decimal
    invoice_tax_tolerance: Decimal
    rates: tuple[Decimal, ...]


@dataclass(frozen=True)
class CupsSettings:
    server: str


@dataclass(frozen=True)
class PrinterSettings:
    name: str
    driver: str
    queue: str
    path: Path | None
    stocks: tuple[str, ...]
    paper_check: str
    in_flight: int
    # Offsets in mm per stock: (x right-positive, y down-positive).
    offsets: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    # A job whose printer answered an error this many times is failed with its last error.
    max_attempts: int = 10

    def offset_for(self, stock: str) -> tuple[float, float]:
        return self.offsets.get(stock, (0.0, 0.0))


@dataclass(frozen=True)
class SyncSettings:
    url: str
    token_file: Path
    batch: int
    backoff_max_s: int
    # Connect and read timeout of one request, seconds.
    timeout_s: int = 10
    # A CA bundle for head office's certificate; None: the system's. Verification is
    # always on.
    ca_file: Path | None = None
    # Plain http:// to a host other than this machine is refused unless this is set.
    allow_plain_http: bool = False


@dataclass(frozen=True)
class OfflineSettings:
    max_hours: int
    max_total: Decimal


@dataclass(frozen=True)
class RenderSettings:
    # "auto": a worker process renders ahead of the printers during a backlog (forked
    # from a copy of the daemon, sharing its memory); "off": every page is rendered in
    # the printer's own thread and no render process ever runs (a PC short of memory).
    worker: str = "auto"


@dataclass(frozen=True)
class MetricsSettings:
    # Where the metrics go: None for data_dir/metrics.prom, a file ending in .prom, or a
    # folder (node_exporter's textfile directory) to write printstation.prom into.
    path: Path | None = None


@dataclass(frozen=True)
class AlertSettings:
    # The program to run per incident and its arguments; () for none.
    command: tuple[str, ...] = ()
    webhook: str = ""
    # Free sheets of a loaded stock below this are an incident; 0: never.
    low_sheets: int = 20
    # Unsent journal events older than this (seconds) are an incident; 0: never.
    behind_s: int = 3600


@dataclass(frozen=True)
class RetentionSettings:
    # Days a file is kept in its folder after it got there; 0: for ever.
    archive_days: int = 0
    rejected_days: int = 90
    results_days: int = 30


@dataclass(frozen=True)
class WebSettings:
    # HOST:PORT the console (`printstation web`) listens on: this machine only, unless IT
    # opens it (then behind a TLS proxy: the session cookie is sent over HTTPS alone).
    listen: str = "127.0.0.1:8631"
    # `USER:scrypt$N$r$p$SALT$HASH` lines, written by `printstation web passwd USER`.
    users_file: Path = Path("/etc/printstation/web-users")
    # The console's own system user: the daemon takes a clerk's name from it alone.
    user: str = "printstation-web"
    # The key that signs session cookies; made (mode 0600) on the console's first start.
    secret_file: Path = Path("/var/lib/printstation-web/secret")


@dataclass(frozen=True)
class Settings:
    station: StationSettings
    intake: IntakeSettings
    validation: ValidationSettings
    cups: CupsSettings
    printers: tuple[PrinterSettings, ...]
    sync: SyncSettings
    offline: OfflineSettings
    # Where the settings came from: the files read in order, or "built-in defaults".
    origin: tuple[str, ...]
    # The folder holding conf.d/ and stocks/: the main file's, or ./printstation-data for
    # the built-in defaults (so that calibration can be written there too).
    config_dir: Path
    # The main config file, None for the built-in defaults.
    main_file: Path | None = None
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    web: WebSettings = field(default_factory=WebSettings)
    render: RenderSettings = field(default_factory=RenderSettings)

    @property
    def conf_d(self) -> Path:
        return self.config_dir / "conf.d"

    @property
    def pid_file(self) -> Path:
        return self.station.data_dir / "printstation.pid"

    @property
    def metrics_file(self) -> Path:
        """`[metrics] path`: a `.prom` file as given, a folder's `printstation.prom`, or
        data_dir/metrics.prom by default."""
        path = self.metrics.path
        if path is None:
            return self.station.data_dir / "metrics.prom"
        return path if path.suffix == ".prom" else path / "printstation.prom"

    @property
    def runtime_file(self) -> Path:
        return self.station.data_dir / "status.json"

    def printer(self, name: str) -> PrinterSettings | None:
        return next((p for p in self.printers if p.name == name), None)

    @property
    def journal_path(self) -> Path:
        return self.station.data_dir / "journal.db"
