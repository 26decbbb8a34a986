"""The outbox's marks (spool/outbox.py): what head office acknowledges marks events
synced, and an answer below an earlier one makes exactly the events between the two
unsynced again, however long the journal."""

from __future__ import annotations

from pathlib import Path

from printstation.spool import Journal, outbox


def unsynced(journal: Journal) -> list[int]:
    return [r[0] for r in journal.conn.execute(
        "SELECT seq FROM events WHERE synced_at IS NULL ORDER BY seq")]


def test_a_lower_answer_unsyncs_the_events_between_the_marks(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db", "TEST-001")
    with journal.transaction():
        for i in range(20):
            journal.append_event("job.queued", f"J{i}", None, {"n": i})
    outbox.record_sent(journal, 12)
    assert outbox.acknowledge(journal, 10) == (10, 0)
    assert unsynced(journal) == list(range(11, 21))
    assert [e["seq"] for e in outbox.pending(journal.conn, 3)] == [11, 12, 13]
    # Head office restored a backup: it holds only 4 now.
    assert outbox.acknowledge(journal, 4) == (0, 6)
    assert unsynced(journal) == list(range(5, 21))
    assert outbox.acked_through(journal.conn) == 4
    assert [e["seq"] for e in outbox.pending(journal.conn, 2)] == [5, 6]
    # The same answer again changes nothing; a higher one marks up to it.
    assert outbox.acknowledge(journal, 4) == (0, 0)
    assert outbox.acknowledge(journal, 12) == (8, 0)
    assert unsynced(journal) == list(range(13, 21))
    assert outbox.backlog(journal.conn).events == 8
    journal.close()


def test_the_next_batchs_sent_mark_rides_on_the_acknowledgement(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db", "TEST-001")
    with journal.transaction():
        for i in range(7):
            journal.append_event("job.queued", f"J{i}", None, {"n": i})
    outbox.record_sent(journal, 3)
    assert outbox.next_last(journal.conn, 3, 3) == 6
    assert outbox.next_last(journal.conn, 6, 3) == 7
    assert outbox.next_last(journal.conn, 7, 3) is None
    outbox.acknowledge(journal, 3, sending_through=6)
    assert (outbox.acked_through(journal.conn), outbox.sent_through(journal.conn)) == (3, 6)
    # An answer above what was sent is refused, and the next mark is not written either.
    try:
        outbox.acknowledge(journal, 7, sending_through=7)
    except outbox.NeverSent:
        pass
    else:
        raise AssertionError("an acknowledgement of an unsent event was taken")
    assert (outbox.acked_through(journal.conn), outbox.sent_through(journal.conn)) == (3, 6)
    # The mark never goes down.
    outbox.acknowledge(journal, 6, sending_through=5)
    assert outbox.sent_through(journal.conn) == 6
    journal.close()
