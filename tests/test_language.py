"""The clerk's language (SPEC §3): Chinese under a Chinese locale, English otherwise, from
one catalogue; local times; columns measured as a terminal draws them; `X.error.txt` in
both languages on every line; and never a Python exception's name in front of a person.

The commands run as the real CLI against a real station; the catalogue's shapes are held
to the lines the real operator actions produce, so a reworded action cannot silently fall
back to English.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import os
import re
import sqlite3
import string
import subprocess
from pathlib import Path

import pytest

from printstation.base import texts
from printstation.base.errors import AlreadyRunning, InternalError, PermissionDenied
from printstation.cli import catalog, tables
from printstation.config import load_settings
from printstation.daemon import reports
from printstation.daemon.control_ops import perform
from printstation.harness.kit import (
    EXE,
    ROOT,
    Station,
    drop_by_rename,
    invoice,
    wait_for,
    write_config,
)
from printstation.spool import Journal, Outcome, State

ZH_ENV = {"LANG": "zh_CN.UTF-8", "TZ": "Asia/Shanghai"}
C_ENV = {"LANG": "C.UTF-8", "TZ": "Asia/Shanghai"}
CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]{3,}")


def run(config: Path, env: dict[str, str], *args: str,
        seen: list[str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES", "LANG")}
    result = subprocess.run([str(EXE), "--config", str(config), *args], capture_output=True,
                            text=True, timeout=60, env={**clean, **env})
    if seen is not None:
        seen += [result.stdout, result.stderr]
    return result


def no_exception_names(outputs: list[str]) -> None:
    for text in outputs:
        assert not catalog.EXCEPTION_NAME.search(text), text
        assert "Traceback" not in text, text


def local(at: str) -> str:
    """A journal time (UTC) as Shanghai's wall clock, computed without the product."""
    moment = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    return (moment + dt.timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")


def starts(line: str, headings: list[str], header: str) -> None:
    """Each heading's value starts in the heading's terminal column (wide = 2)."""
    for heading in headings:
        column = tables.width(header[:header.index(heading)])
        before = [i for i in range(len(line) + 1) if tables.width(line[:i]) == column]
        assert before, (line, heading)
        i = before[0]
        assert line[i - 1] == " " and line[i] != " ", (line, heading)


# -- the catalogue ---------------------------------------------------------------------

def test_the_locale_chooses_the_language() -> None:
    assert texts.language({"LANG": "zh_CN.UTF-8"}) == "zh"
    assert texts.language({"LANG": "C.UTF-8"}) == "en"
    assert texts.language({}) == "en"
    # POSIX order: LC_ALL, then LC_MESSAGES, then LANG.
    assert texts.language({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}) == "en"
    assert texts.language({"LC_MESSAGES": "zh_TW.UTF-8", "LANG": "C"}) == "zh"
    assert texts.language({"LC_ALL": "", "LANG": "zh_CN.GB18030"}) == "zh"


def test_every_message_has_both_languages_with_the_same_fields() -> None:
    def fields(template: str) -> set[str]:
        return {f[1] for f in string.Formatter().parse(template) if f[1] is not None}

    for msg_id, (zh, en) in texts.TEXTS.items():
        assert zh and en, msg_id
        assert fields(zh) == fields(en), msg_id
    for state in State:
        assert CJK.search(texts.state(state.value, "zh")), state
        assert texts.state(state.value, "en") == state.value


def test_every_id_the_cli_says_is_in_the_catalogue() -> None:
    said = set()
    for path in (ROOT / "cli").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr",
                                                      getattr(node.func, "id", "")) == "say" \
                    and node.args and isinstance(node.args[0], ast.Constant):
                said.add((path.name, node.args[0].value))
    assert len(said) > 20
    assert not {(name, msg_id) for name, msg_id in said if msg_id not in texts.TEXTS}


def test_chinese_columns_line_up_on_a_terminal() -> None:
    assert tables.width("已送打印机") == 10 and tables.width("ok") == 2
    assert tables.width("ＡＢ") == 4  # fullwidth letters take two columns too
    rows = [{"a": "已打印", "b": "x"}, {"a": "queued", "b": "排队中"}, {"a": "-", "b": "y"}]
    text = tables.table(rows, ["a", "b"]).splitlines()
    assert text[0].split() == ["A", "B"]
    for line in text[1:]:
        starts(line, ["B"], text[0])


def test_errors_of_each_class_in_chinese_keep_their_fields(monkeypatch) -> None:
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    line = catalog.error_line(PermissionDenied(user="clerk2", action="change the queue",
                                               path="/var/lib/printstation/journal.db"))
    assert line == ("clerk2 无权更改队列（/var/lib/printstation/journal.db）：操作命令需要属于 "
                    "printstation 组")
    assert "进程 4242" in catalog.error_line(AlreadyRunning(pid=4242, data_dir="/srv/d"))
    bug = catalog.internal_line(FileNotFoundError(2, "No such file or directory", "a.json"))
    assert bug.startswith("内部错误：a.json：文件或目录不存在") and "--debug" in bug
    wrapped = catalog.error_line(InternalError(kind="KeyError", detail="KeyError: 'x'"))
    assert "内部错误" in wrapped
    monkeypatch.setenv("LANG", "C.UTF-8")
    english = catalog.internal_line(BrokenPipeError(32, "Broken pipe"))
    assert english == ("internal error: the output was closed; run again with --debug for "
                       "the traceback, and report it")
    assert catalog.said("printer pdf is down: FileExistsError: [Errno 17] File exists: "
                        "'/x'") == "printer pdf is down: File exists: '/x'"
    no_exception_names([line, bug, wrapped, english])


def _queued(journal: Journal, n: int) -> str:
    journal.register_source(f"S{n}", f"{n}.json".encode(), f"S{n}--{n}.json", None, 10)
    doc = invoice(f"{n:08d}")
    return journal.settle_read(journal.next_incoming(), [Outcome(
        State.QUEUED, kind="vat-special", invoice_key=f"1100243130-{n:08d}", printer="pdf",
        invoice_json=json.dumps(doc, ensure_ascii=False))])[0]


def _printed(journal: Journal, n: int) -> str:
    job = _queued(journal, n)
    with journal.transaction():
        journal.transition(job, State.SUBMITTED, cups_job_id=f"x-{job}")
    journal.mark_printed(job)
    return job


def test_every_reply_of_an_operator_action_is_said_in_chinese(tmp_path: Path) -> None:
    # The real actions, as the daemon runs them for the control socket: each line they
    # answer (done or refused) has its Chinese in the catalogue.
    settings = load_settings(write_config(tmp_path))
    journal = Journal(tmp_path / "journal.db", settings.station.id)
    lines: list[str] = []

    def ask(op: str, **args: object) -> None:
        reply = perform(op, journal, settings, "clerk", args)
        assert reply.out or reply.err, (op, args)
        lines.extend(reply.out + reply.err)

    try:
        first, second = _queued(journal, 1), _queued(journal, 2)
        printed = _printed(journal, 3)
        _printed(journal, 4)
        for action in ("hold", "hold", "release", "requeue", "cancel", "cancel"):
            ask("queue", action=action, ids=[first], note="")
        ask("queue", action="hold", ids=["NOSUCH"], note="")
        ask("resolve", job=first, printed=True, reason="")
        with journal.transaction():
            journal.transition(second, State.SUBMITTED, cups_job_id="x")
            journal.transition(second, State.UNCERTAIN, "printer.lost_job")
        ask("resolve", job=second, printed=False, reason="nothing came out")
        ask("void", invoice="1100243130-00000003", reason="wrong buyer")
        ask("void", invoice="1100243130-00000003", reason="again")
        ask("void", invoice="1100243130-00000099", reason="never")
        ask("reprint", invoice="1100243130-00000003", reason="voided", printer=None)
        ask("reprint", invoice="1100243130-00000099", reason="never", printer=None)
        ask("reprint", invoice="1100243130-00000004", reason="smudged", printer=None)
        ask("reprint", invoice="1100243130-00000004", reason="twice", printer=None)
        ask("reprint", invoice="1100243130-00000004", reason="x", printer="nope")
        sheets = {"printer": "pdf", "stock": "vat-special", "code": ""}
        ask("paper-load", **sheets, first="00000010", last="00000012")
        ask("paper-load", **sheets, first="00000011", last="00000011")
        ask("paper-load", **sheets, first="00000019", last="00000018")
        ask("paper-load", **sheets, first="1", last="00000018")
        ask("paper-load", **{**sheets, "printer": "nope"}, first="1", last="2")
        ask("paper-load", **{**sheets, "stock": "nope"}, first="1", last="2")
        ask("paper-load", printer="pdf", stock=None, code="", first="1", last="2")
        ask("paper-spoil", printer="pdf", stock="vat-special", count=1, reason="jam")
        ask("paper-spoil", printer="pdf", stock="vat-special", count=50, reason="jam")
        ask("paper-spoil", printer="pdf", stock="vat-special", count=0, reason="jam")
    finally:
        journal.close()
    assert printed and len(lines) >= 25
    untranslated = [line for line in lines if catalog.translated(line) is None]
    assert not untranslated
    for line in lines:
        said = catalog.translated(line)
        assert CJK.search(said), (line, said)
        # Field values stay as they were: job ids, keys, sheet numbers.
        for token in re.findall(r"\b(?:S\d|R\w{8,}|1100243130-\d{8}|\d{8})\b", line):
            assert token in said, (line, said)


def test_a_rejection_report_is_bilingual_on_every_line() -> None:
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    errors = [{"code": "file.too_complex", "field": "",
               "zh": "文件过于复杂（ValueError）", "en": "The file is too complex (ValueError)"},
              {"code": "line.tax", "field": "lines[0].tax", "zh": "税额不符", "en": "Tax wrong"}]
    jobs = conn.execute(
        "SELECT 'J1' AS id, '1100243130-00000001' AS invoice_key, 'rejected' AS state,"
        " 'line.tax' AS reason, ? AS errors UNION ALL SELECT 'J2', NULL, 'cancelled',"
        " 'operator', NULL UNION ALL SELECT 'J3', 'K-3', 'printed', NULL, NULL",
        (json.dumps(errors, ensure_ascii=False),)).fetchall()
    text = reports.error_text("长名字.json", jobs, archived=True, stored_as="长名字.J1.json")
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[0] == "文件 / file: 长名字.json"
    assert "另存为 / saved as: 长名字.J1.json" in lines[1]
    assert "已拒收 / rejected" in text and "已取消 / cancelled" in text
    assert "发票内容有误（line.tax） / invalid invoice (line.tax)" in text
    assert "操作员操作 / by an operator" in text and "K-3" not in text  # printed: not listed
    for line in lines:
        assert CJK.search(line) and LATIN.search(line), line
    no_exception_names([text])


# -- the real CLI ----------------------------------------------------------------------

def test_errors_and_exit_codes_in_both_languages(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    token = tmp_path / "token"
    token.write_text("secret\n")
    token.chmod(0o600)
    seen: list[str] = []
    cases = [  # (args, exit code, Chinese, English): SPEC §3's codes
        (["show", "J-NOPE"], 1, "J-NOPE", "J-NOPE"),
        (["queue", "--state", "bogus"], 2, "没有状态 'bogus'", "unknown state 'bogus'"),
        (["paper", "spoil", "pdf", "--count", "0", "--reason", "x"], 2,
         "--count 应为 1 或以上", "--count is 1 or more"),
        (["preview", str(tmp_path / "missing.json"), "-o", str(tmp_path / "o.pdf")], 2,
         "文件不存在", "No such file or directory"),
    ]
    for args, code, zh, en in cases:
        chinese = run(config, ZH_ENV, *args, seen=seen)
        english = run(config, C_ENV, *args, seen=seen)
        assert (chinese.returncode, english.returncode) == (code, code), args
        assert zh in chinese.stderr and CJK.search(chinese.stderr), chinese.stderr
        assert en in english.stderr and not CJK.search(english.stderr), english.stderr
        assert len(chinese.stderr.strip().splitlines()) == 1, chinese.stderr
    with config.open("a") as fh:
        # Port 9 on loopback: head office refuses at once (69).
        fh.write(f'\n[sync]\nurl = "http://127.0.0.1:9"\ntoken_file = "{token}"\n')
    chinese = run(config, ZH_ENV, "reconcile", seen=seen)
    assert chinese.returncode == 69 and "总部" in chinese.stderr, chinese.stderr
    assert run(config, C_ENV, "reconcile", seen=seen).returncode == 69
    no_exception_names(seen)


def test_a_clerk_reads_the_station_in_chinese_and_in_local_time(station: Station) -> None:
    seen: list[str] = []
    station.start()
    drop_by_rename(station, "a.json", json.dumps(invoice("00081001")).encode())
    drop_by_rename(station, "b.json", b"{")
    wait_for(lambda: station.result("a.json") and station.result("b.json"), what="settled")
    job = station.result("a.json")["job"]
    rejected = station.result("b.json")["job"]

    status = run(station.config, ZH_ENV, "status", seen=seen)
    assert status.returncode == 0
    assert "站点" in status.stdout and "运行中" in status.stdout and "已打印" in status.stdout
    started = json.loads(run(station.config, C_ENV, "status", "--json").stdout)
    assert local(started["daemon"]["started_at"]) in status.stdout  # local, not UTC
    english = run(station.config, C_ENV, "status", seen=seen)
    assert "station  TEST-001" in english.stdout and "printed" in english.stdout
    assert not CJK.search(english.stdout)

    queue = run(station.config, ZH_ENV, "queue", "--all", seen=seen).stdout.splitlines()
    assert queue[0].split() == ["任务号", "状态", "原因", "发票", "打印机", "已过"]
    rows = {line.split()[0]: line for line in queue[1:]}
    assert "已打印" in rows[job] and "已拒收" in rows[rejected]
    assert "文件格式错误（parse.json）" in rows[rejected]
    for line in queue[1:]:
        starts(line, ["状态", "原因", "发票", "打印机", "已过"], queue[0])
    english_queue = run(station.config, C_ENV, "queue", "--all", seen=seen).stdout
    assert english_queue.splitlines()[0].split() == ["ID", "STATE", "REASON", "INVOICE",
                                                     "PRINTER", "AGE"]
    assert "unreadable format (parse.json)" in english_queue

    # `show`: the job's own times and its events' times, all local (UTC + 8 h here).
    with station.db() as conn:
        created = conn.execute("SELECT created_at FROM jobs WHERE id = ?", (job,)).fetchone()[0]
        printed_at = conn.execute("SELECT at FROM events WHERE job_id = ? AND type = "
                                  "'job.printed'", (job,)).fetchone()[0]
    for env, label, state in ((ZH_ENV, "创建时间", "已打印"), (C_ENV, "created_at", "printed")):
        shown = run(station.config, env, "show", job, seen=seen).stdout
        assert re.search(rf"^{label}\s+{local(created)}$", shown, re.M), shown
        assert f"{local(printed_at)}  job.printed" in shown
        assert re.search(rf"\s{state}$", shown, re.M), shown
    assert "事件记录" in run(station.config, ZH_ENV, "show", job).stdout

    # Operator errors: exit 1 in either language, the reason in the clerk's words.
    held = run(station.config, ZH_ENV, "hold", job, seen=seen)
    assert held.returncode == 1 and "“已打印”" in held.stderr and "可以暂停" in held.stderr
    held = run(station.config, C_ENV, "hold", job, seen=seen)
    assert held.returncode == 1 and f"{job}: is printed; only" in held.stderr
    missing = run(station.config, ZH_ENV, "show", "NOPE", seen=seen)
    assert missing.returncode == 1 and CJK.search(missing.stderr)
    second = run(station.config, ZH_ENV, "run", seen=seen)  # another daemon: 75
    assert second.returncode == 75
    assert f"已有服务（进程 {station.proc.pid}）" in second.stderr.splitlines()[-1]

    # The rejected file's report: every line in Chinese and in English.
    report = (station.rejected / "b.json.error.txt").read_text("utf-8")
    lines = [line for line in report.splitlines() if line.strip()]
    assert "已拒收 / rejected" in report and "原因 / reason:" in report
    for line in lines:
        assert CJK.search(line) and LATIN.search(line), line
    station.stop()
    no_exception_names([*seen, report])


@pytest.mark.parametrize("line", [
    "the daemon is not running",
    "2 job(s) held (render.failed): fix the cause, then `printstation release` them",
    "sync is halted: head office holds other events",
    "offline limit near: oldest unacknowledged printed invoice 20.0 h of 24 h; "
    "unacknowledged printed total 900.00 of 1000",
])
def test_unhealthy_reasons_are_said_in_chinese(line: str) -> None:
    said = catalog.translated(line)
    assert said is not None and CJK.search(said)
    assert not re.search(r"\b(job|held|sync|offline)\b", said), said
