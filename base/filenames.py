"""File names that fit: measured in the bytes the filesystem counts (NAME_MAX, 255 on
Linux), shortened with a short hash of the whole name when too long, so two long names
that start alike stay two names; and a free name beside files already there, for the
files we hand to people, never put over an existing name (base/durable.py)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

NAME_MAX = 255


def _split_ext(raw: bytes) -> tuple[bytes, bytes]:
    """(stem, extension with its dot); a long or missing extension counts as stem."""
    stem, dot, ext = raw.rpartition(b".")
    if not dot or not stem or len(ext) > 16:
        return raw, b""
    return stem, b"." + ext


def _cut(raw: bytes, size: int) -> bytes:
    """The first `size` bytes of `raw`, never splitting a UTF-8 character."""
    size = max(size, 0)
    while 0 < size < len(raw) and raw[size] & 0xC0 == 0x80:
        size -= 1
    return raw[:size]


def fit_name(name: str, suffix: str = "", limit: int = NAME_MAX, tag: str = "") -> str:
    """`name` with `.tag` before its extension, then `suffix`, in at most `limit` bytes.

    A name too long keeps its extension, the tag and the suffix; its stem is cut (on a
    character boundary) and marked `~` and 8 hex digits of the sha256 of the whole name,
    so that names which only differ past the cut stay different. Works on the bytes the
    filesystem sees, so names that are not UTF-8 (surrogate-escaped by Python) survive
    unchanged when they fit.
    """
    raw, tail = os.fsencode(name), os.fsencode(suffix)
    stem, ext = _split_ext(raw)
    mark = b"." + os.fsencode(tag) if tag else b""
    if len(stem) + len(mark) + len(ext) + len(tail) <= limit:
        return os.fsdecode(stem + mark + ext + tail)
    digest = b"~" + hashlib.sha256(raw).hexdigest()[:8].encode()
    room = limit - len(digest) - len(mark) - len(ext) - len(tail)
    return os.fsdecode(_cut(stem, room) + digest + mark + ext + tail)


def free_name(folder: Path, name: str, tag: str, companions: Iterable[str] = (),
              taken: Callable[[Path], bool] = lambda path: False) -> Path:
    """`folder/name`, or with `.tag` (then `.tag-2`, …) before the extension when taken.

    A name is taken when it exists, when one of its `companions` (`name + suffix`, e.g.
    the `.error.txt` report that will go beside it) exists, or when `taken` says so.
    """
    suffixes = tuple(companions)
    count = 0
    while True:
        mark = "" if count == 0 else tag if count == 1 else f"{tag}-{count}"
        candidate = folder / fit_name(name, tag=mark)
        busy = os.path.lexists(candidate) or taken(candidate) or any(
            os.path.lexists(folder / fit_name(candidate.name, s)) for s in suffixes)
        if not busy:
            return candidate
        count += 1
