"""The drop folder's watcher: inotify (or polling) events, passed on as names to look at.

Events are only hints: the intake rescans the folder at start and every `rescan_s`, so a
lost event delays a file, never loses it (daemon/stage_intake.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

# The events that can mean a file arrived or grew. Opens and closes without writing are
# left out: the intake's own rescans and reads make them, and each would wake the
# watcher's threads for nothing (issue 19: an idle station must cost next to nothing).
HINT_EVENTS = [FileCreatedEvent, DirCreatedEvent, FileMovedEvent, DirMovedEvent,
               FileModifiedEvent, FileClosedEvent]


class _Hints(FileSystemEventHandler):
    def __init__(self, on_name: Callable[[str], None]):
        self.on_name = on_name

    def on_any_event(self, event: FileSystemEvent) -> None:
        for path in (event.src_path, getattr(event, "dest_path", "")):
            if path:
                self.on_name(os.path.basename(os.fsdecode(path)))


def watch(folder: Path, on_name: Callable[[str], None], polling: bool) -> BaseObserver:
    """Start watching `folder`; `on_name` gets the name of each file an event is about."""
    observer = PollingObserver(timeout=1) if polling else Observer()
    observer.schedule(_Hints(on_name), str(folder), recursive=False, event_filter=HINT_EVENTS)
    observer.start()
    return observer
