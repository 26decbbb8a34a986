"""Reading zip files that strangers made: OFD documents and the tax platform's bundles.

A zip's directory can claim anything: members that expand a thousand-fold (a zip bomb),
names with `..` or a leading `/`, thousands of members, nested zips. Every member is read
here through one door that checks its name and caps what it may expand to, counting the
bytes actually produced (not the sizes the directory claims), so a reader of OFD or of a
bundle never sees more than these limits allow.
"""

from __future__ import annotations

import io
import posixpath
import zipfile

from .problems import Problem, problem

MAX_MEMBERS = 500           # an OFD invoice has 20–60 members; a bundle 1–4
MAX_MEMBER_BYTES = 32 << 20  # one member, expanded
MAX_TOTAL_BYTES = 64 << 20   # all members read from one zip, expanded
MAX_RATIO = 200              # expanded ÷ compressed for any member larger than 1 MB


class ZipRefused(Exception):
    """The zip breaks a limit; `problem` says which, for the clerk."""

    def __init__(self, found: Problem) -> None:
        super().__init__(found.en)
        self.problem = found


def _refused(what: str, what_zh: str, code: str = "file.too_complex") -> ZipRefused:
    return ZipRefused(problem(code, detail=what, detail_zh=what_zh))


class SafeZip:
    """A zip opened for bounded reading; `names` are its members, normalised."""

    def __init__(self, data: bytes, code: str = "parse.ofd") -> None:
        self.code = code
        self._read_total = 0
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise _refused(f"not a readable zip ({exc})"[:200], "不是可读取的 zip 压缩文件",
                           code) from None
        if len(infos) > MAX_MEMBERS:
            raise _refused(f"the zip holds {len(infos)} members (at most {MAX_MEMBERS})",
                           f"压缩文件有 {len(infos)} 个成员（最多 {MAX_MEMBERS} 个）")
        self._infos: dict[str, zipfile.ZipInfo] = {}
        folders: set[str] = set()
        for info in infos:
            name = info.filename
            clean = posixpath.normpath(name.replace("\\", "/"))
            if name.startswith(("/", "\\")) or clean.startswith("..") or ":" in name \
                    or "\x00" in name:
                raise _refused(f"member {name[:80]!r} points outside the zip",
                               f"成员 {name[:80]!r} 指向压缩文件之外", "zip.unsafe")
            if info.flag_bits & 0x1:
                raise _refused(f"member {name[:80]!r} is encrypted",
                               f"成员 {name[:80]!r} 已加密", "zip.unsafe")
            key = clean.lstrip("./") if clean != "." else clean
            # Two members of one name: which one a reader sees is up to the reader (the
            # zip module takes the last), so the file could show one invoice and print
            # another.
            if key in self._infos or key in folders:
                raise _refused(f"two members are named {name[:80]!r}",
                               f"有两个成员同名 {name[:80]!r}", "zip.unsafe")
            if info.is_dir():
                folders.add(key)
            else:
                self._infos[key] = info

    @property
    def names(self) -> list[str]:
        return list(self._infos)

    def has(self, name: str) -> bool:
        return _norm(name) in self._infos

    def read(self, name: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
        """The member's bytes, read in chunks and refused as soon as a limit is passed."""
        info = self._infos.get(_norm(name))
        if info is None:
            raise _refused(f"member {name[:80]!r} is not in the zip",
                           f"压缩文件中没有成员 {name[:80]!r}", self.code)
        chunks: list[bytes] = []
        size = 0
        try:
            with self._zip.open(info) as member:
                while chunk := member.read(1 << 16):
                    size += len(chunk)
                    self._read_total += len(chunk)
                    if size > limit or self._read_total > MAX_TOTAL_BYTES or (
                            size > 1 << 20 and size > MAX_RATIO * max(info.compress_size, 1)):
                        raise _refused(
                            f"member {name[:80]!r} expands past the reader's limits "
                            "(a zip bomb?)", f"成员 {name[:80]!r} 解压后超出限制（疑似压缩炸弹）")
                    chunks.append(chunk)
        except ZipRefused:
            raise
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
            raise _refused(f"member {name[:80]!r} is damaged ({exc})"[:200],
                           f"成员 {name[:80]!r} 已损坏", self.code) from None
        return b"".join(chunks)


def _norm(name: str) -> str:
    clean = posixpath.normpath(name.replace("\\", "/"))
    return clean.lstrip("./") if clean != "." else clean
