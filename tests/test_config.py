"""Config loading: layers, defaults, and errors that name file, key and allowed values."""

from __future__ import annotations

import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from printstation.config import ConfigError, find_config, load_settings
from printstation.config.schema import PRINTER_KEYS, SECTIONS
from printstation.harness.kit import EXE, ROOT

SHIPPED = ROOT / "config" / "printstation.toml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """
[station]
id = "BJ-1"
data_dir = "data"
[intake]
drop_dir = "in"
[printers.p1]
driver = "directory"
path = "out"
stocks = ["vat-special"]
"""


def test_builtin_defaults_live_under_printstation_data(tmp_path: Path) -> None:
    settings = load_settings(None, cwd=tmp_path)
    root = tmp_path.resolve() / "printstation-data"
    assert settings.origin == ("built-in defaults",)
    assert settings.station.data_dir == root
    assert settings.intake.drop_dir == root / "inbox"
    assert settings.intake.rejected_dir == root / "rejected"
    assert settings.intake.results_dir == root / "results"
    (printer,) = settings.printers
    assert (printer.driver, printer.path) == ("directory", root / "printed")
    assert set(printer.stocks) == {"vat-special", "vat-ordinary", "vat-roll-76", "einvoice"}


def test_find_config_order(tmp_path: Path) -> None:
    assert find_config("x.toml", {"PRINTSTATION_CONFIG": "y.toml"}) == Path("x.toml")
    assert find_config(None, {"PRINTSTATION_CONFIG": "y.toml"}) == Path("y.toml")


def test_shipped_example_is_valid_and_documents_every_key() -> None:
    settings = load_settings(SHIPPED)
    assert settings.station.id == "BJ-CY-001"
    assert settings.validation.rates[0] == Decimal("0.13")
    assert settings.printers[0].offset_for("vat-special") == (0.0, 0.0)  # "no offset"
    text = SHIPPED.read_text(encoding="utf-8")
    for section, keys in SECTIONS.items():
        assert f"[{section}]" in text
        for key in keys:
            assert re.search(rf"^#? ?{key} = ", text, re.M), f"{section}.{key} undocumented"
    for key in PRINTER_KEYS:
        assert re.search(rf"^#? ?{key} = ", text, re.M), f"printers.*.{key} undocumented"


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path / "etc" / "p.toml", MINIMAL))
    etc = (tmp_path / "etc").resolve()
    assert settings.station.data_dir == etc / "data"
    assert settings.intake.rejected_dir == etc / "rejected"  # sibling of drop_dir
    assert settings.printers[0].path == etc / "out"


def test_conf_d_overrides_single_keys_in_name_order(tmp_path: Path) -> None:
    main = write(tmp_path / "p.toml", MINIMAL)
    write(tmp_path / "conf.d" / "20-b.toml", "[intake]\nsettle_ms = 900\n")
    write(tmp_path / "conf.d" / "10-a.toml", "[intake]\nsettle_ms = 700\nrescan_s = 3\n")
    write(tmp_path / "conf.d" / "50-calibration-p1.toml",
          "[printers.p1]\noffsets = { vat-special = [-2.5, 1.2] }\n")
    settings = load_settings(main)
    assert settings.intake.settle_ms == 900
    assert settings.intake.rescan_s == 3
    assert settings.printers[0].path is not None  # untouched keys of the table survive
    assert settings.printers[0].offset_for("vat-special") == (-2.5, 1.2)
    assert len(settings.origin) == 4


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    return [str(p) for p in info.value.problems]


def test_every_error_is_reported_with_file_key_and_allowed_values(tmp_path: Path) -> None:
    # The bad keys sit in a conf.d layer, so errors must name that file, not the main one.
    main = write(tmp_path / "p.toml", MINIMAL.replace('id = "BJ-1"', ""))
    extra = write(tmp_path / "conf.d" / "90-bad.toml", """
[intake]
observer = "fanotify"
settle_ms = "fast"
colour = "blue"
[printers.p2]
driver = "lpr"
stocks = ["vat-special", "a4-blank"]
in_flight = 0
offsets = { vat-special = [31, 0.25] }
[sink]
x = 1
""")
    found = errors_of(main)
    text = "\n".join(found)
    assert f"{main}: station.id: required" in found
    assert f'{extra}: intake.observer: must be one of "inotify", "polling"' in text
    assert f"{extra}: intake.settle_ms: must be a whole number from 50 to 600000" in text
    assert f"{extra}: intake.colour: unknown key (allowed in [intake]:" in text
    assert f"{extra}: printers.p2.driver: must be one of \"cups\", \"directory\"" in text
    assert f"{extra}: printers.p2.stocks: unknown stock 'a4-blank'" in text
    assert f"{extra}: printers.p2.in_flight: must be from 1 to 50, got 0" in text
    assert "offsets: vat-special: each offset must be from -30 to 30 mm, got 31" in text
    assert f"{extra}: sink: unknown section" in text
    assert len(found) >= 9


def test_offset_resolution_is_a_tenth_of_a_millimetre(tmp_path: Path) -> None:
    main = write(tmp_path / "p.toml", MINIMAL + "offsets = { vat-special = [0.25, 0] }\n")
    assert any("0.1 mm resolution" in e for e in errors_of(main))


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    main = write(tmp_path / "p.toml", "[station\nid=")
    (error,) = errors_of(main)
    assert error.startswith(f"{main}: -: not valid TOML")


def test_check_config_command_exit_codes(tmp_path: Path) -> None:
    good = subprocess.run([EXE, "--config", SHIPPED, "check-config"], capture_output=True,
                          text=True)
    assert (good.returncode, good.stdout.strip()) == (0, "OK")
    bad = write(tmp_path / "bad.toml", MINIMAL.replace('stocks = ["vat-special"]',
                                                      'stocks = ["nope"]'))
    result = subprocess.run([EXE, "--config", bad, "check-config"], capture_output=True,
                            text=True)
    assert result.returncode == 78
    assert result.stderr.startswith(f"{bad}: printers.p1.stocks: unknown stock 'nope'")
    assert "Traceback" not in result.stderr
    missing = subprocess.run([EXE, "--config", tmp_path / "none.toml", "check-config"],
                             capture_output=True, text=True)
    assert missing.returncode == 78 and "file not found" in missing.stderr


def test_folders_that_resolve_to_one_are_refused(tmp_path: Path) -> None:
    # A results folder that is the drop folder by another spelling would take its own
    # result files as invoices, for ever (a red-team finding).
    main = tmp_path / "printstation.toml"
    main.write_text('[station]\nid = "S1"\ndata_dir = "data"\n'
                    '[intake]\ndrop_dir = "inbox"\nresults_dir = "data/../inbox"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(main)
    assert "must be different folders" in str(info.value)


def test_log_fields_escape_control_characters() -> None:
    from printstation.base.logs import kv

    line = kv("job.incoming", file="a\rb\x1b[31mc\nd")
    assert line == 'event=job.incoming file="a\\rb\\x1b[31mc\\nd"'
    assert not any(ord(c) < 32 for c in line)


def test_render_worker_is_auto_by_default_and_can_be_turned_off(tmp_path: Path) -> None:
    main = write(tmp_path / "printstation.toml", MINIMAL)
    assert load_settings(main).render.worker == "auto"
    write(main, MINIMAL + '[render]\nworker = "off"\n')
    assert load_settings(main).render.worker == "off"


@pytest.mark.parametrize("value", ['"no"', "false", '"Off"', "0"])
def test_a_render_worker_other_than_auto_or_off_is_refused(tmp_path: Path, value: str) -> None:
    main = write(tmp_path / "printstation.toml", MINIMAL + f"[render]\nworker = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(main)
    message = str(info.value)
    assert "render.worker" in message and '"auto", "off"' in message
    assert str(main) in message
