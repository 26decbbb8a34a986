"""A printer's health in words a clerk knows (缺纸, 卡纸, 脱机, 已暂停…), from what CUPS says.

CUPS describes a queue by `printer-state` (idle, printing, stopped) and
`printer-state-reasons` (RFC 8011 §5.4.12, PWG 5100.9 and CUPS's own), keywords such as
`media-empty-error` or `offline-report` whose suffix says how grave it is: `-error` stops
printing, `-warning` does not, `-report` informs (CUPS reports an offline printer so).
Each keyword is kept as CUPS says it (IT searches for it, as `lpstat -p` shows it) next
to the words in Chinese and English; a keyword this table does not know is shown as it
is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OK, WARNING, ERROR = "ok", "warning", "error"
_GRAVITY = {OK: 0, WARNING: 1, ERROR: 2}


@dataclass(frozen=True)
class Word:
    zh: str
    en: str
    level: str  # how it stands without a suffix telling otherwise


# The reason keyword without its -error/-warning/-report suffix -> its words.
WORDS: dict[str, Word] = {
    "media-empty": Word("缺纸", "out of paper", ERROR),
    "media-needed": Word("缺纸", "out of paper", ERROR),
    "media-low": Word("纸将用完", "paper low", WARNING),
    "media-jam": Word("卡纸", "paper jam", ERROR),
    "input-tray-missing": Word("纸盒未装", "paper tray missing", ERROR),
    "output-area-full": Word("出纸口已满", "output tray full", ERROR),
    "offline": Word("脱机", "offline", ERROR),
    "connecting-to-device": Word("脱机", "offline (connecting to the device)", ERROR),
    "shutdown": Word("脱机", "offline (shut down)", ERROR),
    "timed-out": Word("脱机", "offline (not answering)", ERROR),
    "paused": Word("已暂停", "paused", ERROR),
    "moving-to-paused": Word("已暂停", "paused", ERROR),
    "stopped": Word("已暂停", "stopped", ERROR),
    "door-open": Word("门打开", "door open", ERROR),
    "cover-open": Word("门打开", "cover open", ERROR),
    "interlock-open": Word("门打开", "interlock open", ERROR),
    "toner-low": Word("墨粉/色带将用完", "toner or ribbon low", WARNING),
    "toner-empty": Word("墨粉/色带用完", "toner or ribbon empty", ERROR),
    "marker-supply-low": Word("墨粉/色带将用完", "toner or ribbon low", WARNING),
    "marker-supply-empty": Word("墨粉/色带用完", "toner or ribbon empty", ERROR),
    "marker-waste-almost-full": Word("废粉盒将满", "waste container almost full", WARNING),
    "marker-waste-full": Word("废粉盒已满", "waste container full", ERROR),
    "cups-missing-filter": Word("驱动程序缺失", "driver filter missing", ERROR),
    "cups-insecure-filter": Word("驱动程序不安全", "driver filter insecure", WARNING),
}

# Reasons CUPS sets while all is well (a job on its way to the device): kept among the
# reasons, never a trouble (a line per job in the log would bury the real ones).
QUIET = frozenset({"cups-waiting-for-job-completed", "cups-remote-pending",
                   "cups-remote-pending-held", "cups-remote-processing", "none"})

# Reasons that mean the paper ran out (alerts treat them apart from "down").
PAPER_OUT = frozenset({"media-empty", "media-needed"})

# `-report` is CUPS's own way of saying some of the gravest (`offline-report`): such a
# reason keeps the level of its word.
_SUFFIXES = {"-error": ERROR, "-warning": WARNING, "-report": None}


def split(reason: str) -> tuple[str, str | None]:
    """`media-empty-error` -> (`media-empty`, "error"); no suffix or `-report` ->
    (keyword, None)."""
    for suffix, level in _SUFFIXES.items():
        if reason.endswith(suffix):
            return reason[: -len(suffix)], level
    return reason, None


def word_for(reason: str) -> dict[str, str]:
    """One CUPS reason with its words and level."""
    keyword, level = split(reason)
    if keyword in QUIET:
        return {"reason": reason, "zh": reason, "en": reason, "level": OK}
    known = WORDS.get(keyword)
    if known is None:
        return {"reason": reason, "zh": reason, "en": reason, "level": level or WARNING}
    return {"reason": reason, "zh": known.zh, "en": known.en, "level": level or known.level}


def out_of_paper(reasons: list[str] | tuple[str, ...]) -> bool:
    return any(split(r)[0] in PAPER_OUT for r in reasons)


def stopping(found: dict[str, Any]) -> list[dict[str, str]]:
    """The words of `health()` that keep the printer from printing, paper aside."""
    return [w for w in found["words"]
            if w["level"] == ERROR and split(w["reason"])[0] not in PAPER_OUT]


def health(device: dict[str, Any] | None, error: str | None = None,
           up: bool | None = None) -> dict[str, Any]:
    """A printer's health for `status`, logs and alerts.

    `device` is what the daemon last read from the printer (`state`, `reasons`,
    `accepting`), None when it has not (a directory printer, or the daemon not running);
    `error` is why the daemon cannot use it at all (CUPS unreachable…). Returns `zh` and
    `en` (the words, joined), `level` (ok, warning, error), `state`, `reasons` (CUPS's
    own keywords) and `words` (each reason with its words).
    """
    device = device or {}
    reasons = list(device.get("reasons") or [])
    words = [word_for(r) for r in reasons]
    state = device.get("state")
    if state == "stopped" and not any(split(r)[0] in ("paused", "moving-to-paused")
                                      for r in reasons):
        words.insert(0, {"reason": "stopped", **_pair(WORDS["stopped"]), "level": ERROR})
    if device and device.get("accepting") is False:
        words.append({"reason": "not-accepting-jobs", "zh": "拒绝接收任务",
                      "en": "not accepting jobs", "level": ERROR})
    if error:
        words.insert(0, {"reason": "unreachable", "zh": "无法使用", "en": "cannot be used",
                         "level": ERROR})
    level = max((w["level"] for w in words), key=_GRAVITY.__getitem__, default=OK)
    if up is False:
        level = ERROR
    shown = [w for w in words if w["level"] != OK]
    if not shown:
        zh, en = ("正常", "ready") if up is not False and (device or up) else ("未知", "unknown")
    else:
        zh = "，".join(dict.fromkeys(w["zh"] for w in shown))
        en = ", ".join(dict.fromkeys(w["en"] for w in shown))
    return {"zh": zh, "en": en, "level": level, "state": state, "reasons": reasons,
            "words": words, "error": error}


def _pair(word: Word) -> dict[str, str]:
    return {"zh": word.zh, "en": word.en}


def line(found: dict[str, Any]) -> str:
    """The words with CUPS's keywords beside them, for a log line or a table cell:
    `缺纸 / out of paper (media-empty-error)`."""
    text = f"{found['zh']} / {found['en']}"
    quiet = {w["reason"] for w in found["words"] if w["level"] == OK}
    reasons = [r for r in found["reasons"] if r not in quiet]
    return text + (f" ({', '.join(reasons)})" if reasons else "")
