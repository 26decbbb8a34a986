"""What a station tells head office besides its events (SPEC §11, the outbox report): the
invoice facts on `job.printed`, and what it has not had acknowledged."""

from __future__ import annotations

import json
from decimal import Decimal

from printstation.daemon.offline import Budget
from printstation.spool import Journal, Outcome, State, outbox


def _printed(journal: Journal, source: str, number: str, total: str) -> None:
    journal.register_source(source, f"{source}.json".encode(), f"{source}--x.json",
                            "ab" * 32, 10)
    row = journal.next_incoming()
    invoice = {"kind": "vat-special", "code": "3100", "number": number, "date": "2026-12-01",
               "buyer": {"name": "上海某某公司", "tin": "91310000MA1FL0000X"},
               "total_amount": total, "total_tax": "0.00", "total": total}
    journal.settle_read(row, [Outcome(State.QUEUED, kind="vat-special",
                                      invoice_key=f"3100-{number}", printer="p",
                                      invoice_json=json.dumps(invoice))])
    with journal.transaction():
        journal.transition(source, State.SUBMITTED, cups_job_id=f"ext-{source}")
    journal.mark_printed(source)


def test_printed_event_carries_the_invoice_facts(journal: Journal) -> None:
    _printed(journal, "S1", "00000001", "1.13")
    (payload,) = [json.loads(r["payload"]) for r in journal.conn.execute(
        "SELECT payload FROM events WHERE type = 'job.printed'")]
    assert payload["total"] == "1.13"
    assert payload["invoice"] == {"code": "3100", "number": "00000001", "kind": "vat-special",
                                  "date": "2026-12-01", "buyer_name": "上海某某公司",
                                  "buyer_tin": "91310000MA1FL0000X"}


def test_report_counts_what_head_office_lacks(journal: Journal) -> None:
    _printed(journal, "S1", "00000001", "0.10")
    _printed(journal, "S2", "00000002", "0.20")
    last = journal.last_seq()
    report = outbox.report(journal.conn)
    assert report["last_seq"] == last and report["pending"] == last
    assert report["printed"] == 2 and report["printed_total"] == "0.30"
    assert [(i["invoice_key"], i["number"], i["code"], i["total"]) for i in
            report["invoices"]] == [("3100-00000001", "00000001", "3100", "0.10"),
                                    ("3100-00000002", "00000002", "3100", "0.20")]
    # Head office acknowledged everything up to the first invoice's printing.
    first_printed = journal.conn.execute(
        "SELECT min(seq) FROM events WHERE type = 'job.printed'").fetchone()[0]
    outbox.record_sent(journal, last)
    outbox.acknowledge(journal, first_printed)
    report = outbox.report(journal.conn, limit=1)
    assert report["pending"] == last - first_printed and report["printed"] == 1
    assert [i["number"] for i in report["invoices"]] == ["00000002"]
    assert report["oldest_at"] is not None
    outbox.acknowledge(journal, last)
    report = outbox.report(journal.conn)
    assert (report["pending"], report["printed"], report["invoices"], report["oldest_at"]) \
        == (0, 0, [], None)


def test_offline_budget_share() -> None:
    assert Budget(0, 0.0, Decimal(0), 24, Decimal(0)).used() == 0.0
    assert Budget(1, 6.0, Decimal("500"), 24, Decimal("1000")).used() == 0.5
    assert Budget(1, 30.0, Decimal("10"), 24, Decimal("1000")).used() == 1.25
    assert Budget(3, 1.0, Decimal("900"), 0, Decimal("1000")).used() == 0.9


def test_offline_amount_budget_counts_jobs_in_the_printer() -> None:
    """A job handed to the printer and not yet known printed counts against the amount
    limit: it may come out before head office hears of the next one."""
    budget = Budget(1, 1.0, Decimal("400"), 0, Decimal("1000"), in_flight=Decimal("300"))
    assert budget.refusal(Decimal("300")) is None
    zh, en = budget.refusal(Decimal("300.01"))
    assert "300 printing now" in en and "打印中 300" in zh
    assert Budget(1, 1.0, Decimal("400"), 0, Decimal("1000")).refusal(Decimal("600")) is None
