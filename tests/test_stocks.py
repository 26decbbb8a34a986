"""Stock layouts load, stay on the page, and bad layouts are named in check-config."""

from __future__ import annotations

from pathlib import Path

from printstation.config import load_settings, load_stocks


def test_builtin_stocks() -> None:
    stocks, problems = load_stocks()
    assert problems == []
    assert {n: (s.width_mm, s.height_mm) for n, s in stocks.items()} == {
        "vat-special": (241.3, 139.7), "vat-ordinary": (241.3, 139.7),
        "vat-roll-76": (76.0, 177.8), "einvoice": (210.0, 297.0)}
    assert stocks["vat-special"].items.rows == 8
    assert stocks["einvoice"].plain_paper and not stocks["vat-special"].plain_paper


def test_a_broken_layout_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "stocks").mkdir()
    (tmp_path / "stocks" / "odd.toml").write_text("""
name = "odd"
width_mm = 100
height_mm = 50
[fields]
number = { x = 95, y = 10, width = 20 }
colour = { x = 1, y = 1, width = 5 }
""", encoding="utf-8")
    _, problems = load_stocks(tmp_path / "stocks")
    messages = {(p.key, p.message) for p in problems}
    assert ("fields.number", "the field's box leaves the page") in messages
    assert any(k == "fields.colour" and m.startswith("unknown field") for k, m in messages)
    config = tmp_path / "p.toml"
    config.write_text('[station]\nid = "X"\n[printers.a]\ndriver = "directory"\npath = "o"\n'
                      'stocks = ["einvoice"]\n', encoding="utf-8")
    try:
        load_settings(config)
    except Exception as exc:  # ConfigError
        assert "odd.toml: fields.number: the field's box leaves the page" in str(exc)
    else:
        raise AssertionError("a broken layout must fail the config")
