"""The message catalogue: every text a clerk reads, in Chinese and in English, by id.

One table, in the manner of `invoice/problems.py` (whose validation messages stay there):
the CLI shows one language, chosen by the locale (`cli/catalog.py`), and `X.error.txt`
shows both. It lives in `base` because the daemon writes the reports and the CLI prints
the rest; a table needs no build step, which gettext's compiled catalogues would.

Ids are grouped by their first part: `state.` (job states), `sync.` (sync worker states),
`reason.` (why a job is where it is), `col.` (table headings), `field.` (the lines of
`show`), `status.` (the status page), `error.` (one per error class, by class name),
`errno.`, `action.` (what a permission error says was refused), `check.` (unhealthy
reasons), `say.` (the English lines of operator actions and errors, each read back as a
shape with named fields so that the Chinese one can be said instead), `report.`
(`X.error.txt`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .tool_texts import TOOL_TEXTS

ZH, EN = "zh", "en"

# id -> (Chinese, English); templates use str.format fields.
TEXTS: dict[str, tuple[str, str]] = {
    # -- job states (SPEC §9) -----------------------------------------------------------
    "state.incoming": ("接收中", "incoming"),
    "state.queued": ("排队中", "queued"),
    "state.submitted": ("已送打印机", "submitted"),
    "state.printed": ("已打印", "printed"),
    "state.rejected": ("已拒收", "rejected"),
    "state.held": ("已暂停", "held"),
    "state.deferred": ("稍后重试", "deferred"),
    "state.uncertain": ("待确认", "uncertain"),
    "state.failed": ("打印失败", "failed"),
    "state.cancelled": ("已取消", "cancelled"),
    # -- the sync worker --------------------------------------------------------------
    "sync.off": ("关闭", "off"),
    "sync.idle": ("已同步", "idle"),
    "sync.sending": ("上传中", "sending"),
    "sync.retrying": ("等待重试", "retrying"),
    "sync.paused": ("已暂停", "paused"),
    "sync.halted": ("已停止", "halted"),
    "sync.stopped (daemon not running)": ("未运行（服务未启动）", "stopped (daemon not running)"),
    # -- reasons: why a job is held, waits, failed or was rejected ----------------------
    "reason.operator": ("操作员操作", "by an operator"),
    "reason.operator.spoiled": ("操作员判定未打出（纸张损坏）", "settled as not printed"),
    "reason.paper.mismatch": ("纸张号码不符", "paper number mismatch"),
    "reason.offline.limit": ("离线限额已到", "offline limit reached"),
    "reason.printer.missing": ("没有可用的打印机", "no printer for this kind"),
    "reason.render.failed": ("无法生成打印页面", "page cannot be rendered"),
    "reason.printer.refused": ("打印机拒收", "refused by the printer"),
    "reason.printer.error": ("打印机报错", "printer error"),
    "reason.printer.lost_job": ("打印机丢失任务", "printer lost the job"),
    "reason.printer.job_failed": ("打印机报告任务失败", "printer says the job failed"),
    "reason.spool.missing": ("待处理文件丢失", "spooled file missing"),
    "reason.invoice.duplicate": ("发票已打印过", "invoice already printed"),
    "reason.file.duplicate": ("重复的文件", "same file already taken"),
    "reason.file.unreadable": ("无权读取文件", "file not readable"),
    "reason.file.too_large": ("文件过大", "file too large"),
    # A rejection by any other validation code is told by its kind, with the code.
    "reason_kind.file": ("文件无法使用", "unusable file"),
    "reason_kind.parse": ("文件格式错误", "unreadable format"),
    "reason_kind.pdf": ("PDF 无法打印", "PDF not printable"),
    "reason_kind.invoice": ("发票内容有误", "invalid invoice"),
    # -- table headings ---------------------------------------------------------------
    "col.id": ("任务号", "ID"), "col.job": ("任务号", "JOB"), "col.state": ("状态", "STATE"),
    "col.reason": ("原因", "REASON"), "col.invoice": ("发票", "INVOICE"),
    "col.printer": ("打印机", "PRINTER"), "col.age": ("已过", "AGE"),
    "col.file": ("文件", "FILE"), "col.stock": ("纸种", "STOCK"),
    "col.loaded": ("已装入", "LOADED"), "col.free": ("未用", "FREE"),
    "col.in_printer": ("打印中", "IN_PRINTER"), "col.used": ("已用", "USED"),
    "col.spoiled": ("损坏", "SPOILED"), "col.voided": ("作废", "VOIDED"),
    "col.next": ("下一张", "NEXT"), "col.low": ("余量", "LOW"), "col.seq": ("序号", "SEQ"),
    "col.at": ("时间", "AT"), "col.type": ("类型", "TYPE"), "col.payload": ("内容", "PAYLOAD"),
    "col.number": ("发票号码", "NUMBER"), "col.code": ("发票代码", "CODE"),
    "col.buyer": ("购买方", "BUYER"), "col.date": ("开票日期", "DATE"),
    "col.total": ("价税合计", "TOTAL"), "col.kind": ("种类", "KIND"),
    "col.prints": ("打印次数", "PRINTS"), "col.sheet": ("纸号", "SHEET"),
    "col.printed_at": ("打印时间", "PRINTED_AT"), "col.created": ("创建时间", "CREATED"),
    "col.printed": ("打印时间", "PRINTED"), "col.jobs": ("任务", "JOBS"),
    "low.yes": ("不足", "LOW"),
    # Ages in the queue: how long ago a job arrived.
    "age.d": ("{n} 天", "{n}d"), "age.h": ("{n} 小时", "{n}h"), "age.m": ("{n} 分钟", "{n}m"),
    "age.s": ("{n} 秒", "{n}s"),
    # -- `show` -----------------------------------------------------------------------
    "field.id": ("任务号", "id"), "field.state": ("状态", "state"),
    "field.reason": ("原因", "reason"), "field.invoice_key": ("发票", "invoice_key"),
    "field.kind": ("种类", "kind"), "field.printer": ("打印机", "printer"),
    "field.source_name": ("文件", "source_name"), "field.source_id": ("文件编号", "source_id"),
    "field.source_sha256": ("文件摘要", "source_sha256"),
    "field.source_seq": ("接收序号", "source_seq"),
    "field.batch_index": ("批内序号", "batch_index"),
    "field.cups_job_id": ("CUPS 任务号", "cups_job_id"), "field.attempts": ("尝试次数", "attempts"),
    "field.next_attempt_at": ("下次重试", "next_attempt_at"),
    "field.created_at": ("创建时间", "created_at"), "field.updated_at": ("更新时间", "updated_at"),
    "field.paper_code": ("纸张代码", "paper_code"),
    "field.paper_number": ("纸张号码", "paper_number"),
    "field.reprint_of": ("重打自", "reprint_of"), "field.errors": ("问题", "errors"),
    "show.events": ("事件记录", "events"),
    # -- invoices: `invoices`, `show INVOICE`, `void`, `reprint` (cli/invoices.py) -------
    "state.voided": ("已作废", "voided"),
    "field.key": ("发票", "key"), "field.code": ("发票代码", "code"),
    "field.number": ("发票号码", "number"), "field.date": ("开票日期", "date"),
    "field.buyer": ("购买方", "buyer"), "field.buyer_tin": ("购买方税号", "buyer_tin"),
    "field.total_amount": ("金额", "total_amount"), "field.total_tax": ("税额", "total_tax"),
    "field.total": ("价税合计", "total"), "field.print_count": ("打印次数", "print_count"),
    "field.printed_at": ("打印时间", "printed_at"), "field.sheet": ("纸号", "sheet"),
    "show.jobs": ("任务", "jobs"),
    "inv.never_printed": ("-（本站未打印过）", "- (never printed here)"),
    "inv.unprinted": ("未打印", "not printed"),
    "inv.more": ("，另有 {n} 张", " and {n} more"),
    "inv.ambiguous": ("发票号码 {typed} 对应 {n} 张发票：{named}{more}；请多输入几位数字，"
                      "或输入“代码-号码”",
                      "invoice number {typed} matches {n} invoices: {named}{more}; type more "
                      "of its digits, or CODE-NUMBER"),
    "inv.no_match": ("没有任务或发票 {typed}", "no job or invoice {typed}"),
    "inv.no_tty": ("作废发票 {key}：没有终端可供确认；在脚本中请加 --yes",
                   "void {key}: no terminal to confirm on; add --yes to void it from a script"),
    "inv.confirm": ("作废发票 {key}？", "void (作废) invoice {key}?"),
    "inv.copies": ("（共打印 {n} 次）", " (copies: {n})"),
    "inv.prompt": ("确认作废？[y/N] ", "void it? [y/N] "),
    "inv.not_voided": ("发票 {key} 未作废", "{key}: not voided"),
    # -- the status page --------------------------------------------------------------
    "status.station": ("站点", "station"), "status.daemon": ("服务", "daemon"),
    "status.config": ("配置", "config"), "status.journal": ("日志库", "journal"),
    "status.inbox": ("投放目录", "inbox"), "status.reload": ("重新加载", "reload"),
    "status.sync": ("同步", "sync"), "status.offline": ("离线", "offline"),
    "status.jobs": ("任务", "jobs"), "status.paper": ("纸张", "paper"),
    "status.printers": ("打印机", "printers"),
    "status.running": ("运行中（进程 {pid}，启动于 {since}）",
                       "running (pid {pid}, since {since})"),
    "status.not_running": ("未运行", "not running"),
    "status.reload_failed": ("失败（{at}）：{error}（仍使用原配置）",
                             "FAILED at {at}: {error} (the old config is in use)"),
    "status.sync_off": ("关闭（未设置 sync.url）：日志照常保存，不上传",
                        "off (no sync.url): the journal is kept, nothing is sent"),
    "status.sync_state": ("{state} → {url}", "{state} -> {url}"),
    "status.backlog": ("待上传", "backlog"), "status.backlog_n": ("{n} 条事件", "{n} events"),
    "status.backlog_oldest": ("，最早 {at}（{age} 秒前）", ", oldest {at} ({age} s)"),
    "status.acked": ("已确认", "acknowledged"),
    "status.acked_n": ("至序号 {seq}", "through seq {seq}"),
    "status.last_ok": ("上次成功", "last success"), "status.last_error": ("上次错误", "last error"),
    "status.next_try": ("下次尝试", "next attempt"),
    "status.budget": ("{printed} 张已打印发票未获总部确认，合计 {total}，最早 {age} 小时前"
                      "（限额：{hours} 小时，{max_total}）",
                      "{printed} printed invoice(s) unacknowledged, total {total}, oldest "
                      "{age} h (limits: {hours} h, {max_total})"),
    "status.warning": ("注意：{text}", "WARNING: {text}"),
    "status.paper_row": ("{free} 张未用，下一张 {next}", "{free} free  next {next}"),
    "status.paper_low": ("余量不足：请装纸", "LOW: load more sheets"),
    "status.up": ("正常", "up"), "status.down": ("故障", "DOWN"),
    "status.waiting": ("等待 {n}", "waiting {n}"),
    "validate.ok": ("有效", "OK"), "validate.invalid": ("无效", "INVALID"),
    "preview.done": ("预览：{path}（{pages} 页{first}）",
                     "preview: {path} ({pages} page(s){first})"),
    "preview.first": ("，仅第 1 页", ", first page only"),
    "status.ok": ("正常", "OK"), "status.unhealthy": ("异常：{problem}", "UNHEALTHY: {problem}"),
    # -- errors: one template per class (SPEC §3; the exit code stays the class's) ------
    "error.StationError": ("操作未完成：{}", "{}"),
    "error.NotFound": ("找不到：{}", "{}"),
    "error.UsageError": ("用法错误：{}", "{}"),
    "error.Unavailable": ("服务不可用：{}", "{}"),
    "error.PrinterUnavailable": ("打印机不可用：{}", "{}"),
    "error.FontMissing": ("缺少中文字体：{}", "{}"),
    "error.PreviewUnavailable": ("无法预览：{}", "{}"),
    "error.ConfigInvalid": ("配置错误：{}", "{}"),
    "error.Refused": ("操作被拒绝：{}", "{}"),
    "error.PaperError": ("纸张登记有误：{}", "{}"),
    "error.BackupFailed": ("备份失败：{}", "{}"),
    "error.InternalError": ("内部错误：{detail}；请加 --debug 重新运行以查看详情，并报告此问题",
                            "internal error: {detail}; run again with --debug for the "
                            "traceback, and report it"),
    "error.AlreadyRunning": ("已有服务（进程 {pid}）在使用 {data_dir}",
                             "another daemon (pid {pid}) already runs on {data_dir}"),
    "error.PermissionDenied": ("{user} 无权{action}（{path}）：操作命令需要属于 printstation 组",
                               "{user} may not {action} ({path}): operator commands need "
                               "membership of group printstation"),
    "error.LoginsDenied": ("{user} 无权更改{what}的登录（{path}）：只有 root（IT）可以，如："
                           "sudo printstation {command} {login}",
                           "{user} may not change the {what}'s logins ({path}): only root "
                           "(IT) can, as: sudo printstation {command} {login}"),
    "error.TokensDenied": ("{user} 无权{action}总部的令牌文件（{path}）：只有 root（IT）可以，如："
                           "sudo printstation receiver token {command}",
                           "{user} may not {action} head office's tokens ({path}): only root "
                           "(IT) can, as: sudo printstation receiver token {command}"),
    # A refusal the daemon sent back carries its exit code, not its class.
    "error.exit.2": ("用法错误：{}", "{}"), "error.exit.69": ("服务不可用：{}", "{}"),
    "error.exit.77": ("没有权限：{}", "{}"), "error.exit.78": ("配置错误：{}", "{}"),
    "errno.ENOENT": ("文件或目录不存在", "no such file or directory"),
    "errno.EACCES": ("没有权限", "permission denied"),
    "errno.ENOSPC": ("磁盘已满", "no space left on the disk"),
    "errno.EISDIR": ("这是一个目录", "is a folder"),
    "errno.ENOTDIR": ("不是目录", "not a folder"),
    "errno.EROFS": ("只读文件系统", "read-only file system"),
    "errno.EPIPE": ("输出已关闭", "the output was closed"),
    "action.use the journal": ("使用日志库", "use the journal"),
    "action.reach the daemon": ("连接服务", "reach the daemon"),
    "action.change the queue": ("更改队列", "change the queue"),
    "action.read": ("读取", "read"),
    "action.change": ("更改", "change"),
    # -- unhealthy reasons (`status --check`, daemon/status.py) -------------------------
    "check.daemon": ("服务未运行", "the daemon is not running"),
    "check.printer_why": ("打印机 {name} 故障：{error}", "printer {name} is down: {error}"),
    "check.printer": ("打印机 {name} 故障", "printer {name} is down"),
    "check.thread": ("{name} 已停止（线程已结束）", "{name} is not running (its thread ended)"),
    "check.stuck": ("{name} 卡住：已 {s} 秒没有运转",
                    "{name} is stuck: its loop has not come round for {s} s"),
    "check.reload": ("上次重新加载配置失败：{error}", "the last reload failed: {error}"),
    "check.uncertain": ("{n} 个任务待确认：请用 printstation resolve 处理",
                        "{n} job(s) uncertain: settle with `printstation resolve`"),
    "check.sync": ("同步{sync}：{error}", "sync is {sync}: {error}"),
    "check.held": ("{n} 个任务因“{reason}”暂停：排除原因后用 printstation release 放行",
                   "{n} job(s) held ({reason}): fix the cause, then `printstation release` them"),
    "check.offline": ("{n} 个任务因离线限额暂停，待总部确认后继续",
                      "{n} job(s) held by the offline limit until head office catches up"),
    "check.sync_stuck": ("同步停滞：最早未上传的事件已有 {s} 秒",
                         "sync is stuck: the oldest unsent event is {s} s old"),
    "check.disk": ("{path} 所在磁盘将满（剩余 {mib} MiB）",
                   "the disk of {path} is nearly full ({mib} MiB free)"),
    "check.orphan": ("待处理目录中的文件 {name} 没有日志记录（已 {min} 分钟）",
                     "spool file {name} has no journal row ({min} min old)"),
    "check.orphan_of": ("待处理目录中的文件 {name} 属于日志中状态为 {as} 的文件（已 {min} 分钟）",
                        "spool file {name} belongs to a file the journal has as {as} "
                        "({min} min old)"),
    "check.offline_near": ("接近离线限额：{parts}", "offline limit near: {parts}"),
    "check.near_age": ("最早未确认的已打印发票 {age} 小时（上限 {hours} 小时）",
                       "oldest unacknowledged printed invoice {age} h of {hours} h"),
    "check.near_total": ("未确认的已打印金额 {total}（上限 {max_total}）",
                         "unacknowledged printed total {total} of {max_total}"),
    # -- operator actions: replies and refusals (spool/operations.py, control_ops.py) ---
    "say.spoiled": ("{job}：待确认 → 打印失败（纸张记为损坏）",
                    "{job}: uncertain -> failed (sheet spoiled)"),
    "say.moved": ("{job}：{old} → {new}", "{job}: {old} -> {new}"),
    "say.voided_sheet": ("发票 {key} 已作废，纸张 {sheet} 一并作废",
                         "{key}: voided, sheet {sheet} voided"),
    "say.voided": ("发票 {key} 已作废", "{key}: voided"),
    "say.reprint": ("发票 {key} 已排队重打，任务号 {job}", "{key}: reprint queued as job {job}"),
    "say.loaded_off": ("{printer}：已装入 {count} 张{stock}纸 {first}-{last}（注意：此打印机"
                       "未开启纸号核对）", "{printer}: loaded {count} sheets of {stock} "
                       "{first}-{last} (note: paper_check is off for this printer)"),
    "say.loaded": ("{printer}：已装入 {count} 张{stock}纸 {first}-{last}",
                   "{printer}: loaded {count} sheets of {stock} {first}-{last}"),
    "say.spoil": ("{printer}：纸张 {sheets} 已记为损坏", "{printer}: spoiled {sheets}"),
    "say.no_job": ("没有任务 {job}", "{job}: no such job"),
    "say.no_job_cli": ("没有任务 {job}", "no job {job}"),
    "say.not_held": ("任务 {job} 的状态是“{state}”；只有{states}的任务可以暂停",
                     "{job}: is {state}; only {states} jobs can be held"),
    "say.not_released": ("任务 {job} 的状态是“{state}”；只有{states}的任务可以放行",
                         "{job}: is {state}; only {states} jobs can be released"),
    "say.not_requeued": ("任务 {job} 的状态是“{state}”；只有{states}的任务可以重新排队",
                         "{job}: is {state}; only {states} jobs can be requeued"),
    "say.not_cancelled": ("任务 {job} 的状态是“{state}”；只有{states}的任务可以取消（已送打印机"
                          "的任务归打印机处理；待确认的任务用 resolve 处理）",
                          "{job}: is {state}; only {states} jobs can be cancelled (a submitted "
                          "job is the printer's now; an uncertain one is settled with resolve)"),
    "say.not_uncertain": ("任务 {job} 的状态是“{state}”；只有待确认的任务可以 resolve",
                          "{job}: is {state}; only uncertain jobs are resolved"),
    "say.not_printed": ("发票 {key} 未打印；只有已打印的发票可以作废",
                        "{key}: not printed; only a printed invoice can be voided"),
    "say.voided_already": ("发票 {key} 已作废过；只有已打印的发票可以作废",
                           "{key}: already voided; only a printed invoice can be voided"),
    "say.never_printed": ("发票 {key} 在本站从未打印或读取过：请重新放入它的文件",
                          "{key}: never printed or read here; drop its file instead"),
    "say.voided_no_reprint": ("发票 {key} 已作废，不能再打印：请在开票软件中开具新发票",
                              "{key}: voided; a voided invoice cannot be printed again: issue "
                              "a new invoice in the invoicing software"),
    "say.still_queued": ("发票 {key} 的任务 {job} 仍在队列中",
                         "{key}: job {job} for it is still in the queue"),
    "say.no_printer_of": ("没有打印机 {printer}（已配置：{names}）",
                          "no printer {printer} (configured: {names})"),
    "say.no_printer": ("没有打印机 {printer}", "no printer {printer}"),
    "say.name_stock": ("打印机 {printer} 装有 {stocks}：请用 --stock 指定",
                       "printer {printer} holds {stocks}: name --stock"),
    "say.no_stock": ("打印机 {printer} 没有纸种 {stock}（{stocks}）",
                     "printer {printer} has no stock {stock} ({stocks})"),
    "say.count_max": ("--count 应为 1 到 {n}", "--count is 1 to {n}"),
    "say.count_min": ("--count 应为 1 或以上", "--count is 1 or more"),
    "say.few_sheets": ("{printer} 中只有 {n} 张未用的{stock}纸",
                       "only {n} free sheet(s) of {stock} in {printer}"),
    "say.range_before": ("--to {last} 在 --from {first} 之前",
                         "--to {last} is before --from {first}"),
    "say.range_digits": ("--from 和 --to 应为位数相同的纸张号码",
                         "--from and --to are sheet numbers of the same number of digits"),
    "say.sheet_taken": ("{stock}纸 {sheet} 已登记过：每张编号的纸只装入一次",
                        "sheet {sheet} of {stock} is already in the ledger: a numbered sheet "
                        "is loaded once"),
    "say.no_daemon": ("服务未运行，现在无法更改队列：请 IT 启动服务（systemctl start "
                      "printstation）；status、queue、show 和 journal 仍可使用",
                      "the daemon is not running, so the queue cannot be changed now: ask IT "
                      "to start it (systemctl start printstation); status, queue, show and "
                      "journal still work"),
    "say.daemon_bug": ("服务内部错误：{detail}；详见服务日志",
                       "internal error: {detail}; see the daemon's log"),
    "say.no_answer": ("服务在 {s} 秒内没有回应", "the daemon did not answer within {s} s"),
    "say.stdin": ("“-” 表示从标准输入读取任务号，须单独使用",
                  "'-' reads the ids from standard input and stands alone"),
    "say.bad_date": ("不是日期或时间：{text}（请用 YYYY-MM-DD 或 ISO 8601）",
                     "not a date or time: {text} (use YYYY-MM-DD or ISO 8601)"),
    "say.no_journal": ("{path} 没有日志库", "no journal at {path}"),
    "say.no_file": ("{path}：文件不存在", "{path}: no such file"),
    "say.no_such_file": ("{path}：文件不存在", "{path}: No such file or directory"),
    "say.sync_off": ("同步已关闭：请在配置中设置 sync.url",
                     "sync is off: set sync.url in the config"),
    "say.head_office": ("总部：{error}", "head office: {error}"),
    "say.reprint_voided": ("发票 {key} 已作废，不能再打印：请在开票软件中开具新发票",
                           "{key}: voided; a voided invoice cannot be printed again: issue a "
                           "new invoice in the invoicing software"),
    # -- `X.error.txt` (both languages on every line) ----------------------------------
    "report.file": ("文件", "file"), "report.saved_as": ("另存为", "saved as"),
    "report.name_taken": ("原名已被占用或过长", "the name was taken or too long"),
    "report.partial": ("部分发票已打印，文件已归档；以下发票被拒收。",
                       "Some invoices printed and the file was archived; these invoices were "
                       "rejected."),
    "report.rejected": ("文件被拒收。", "The file was rejected."),
    "report.invoice": ("发票", "invoice"), "report.job": ("任务", "job"),
    "report.reason": ("原因", "reason"),
}
TEXTS |= TOOL_TEXTS  # the command line's own (base/tool_texts.py)


# The first part of a validation code (invoice/problems.py) -> the kind of rejection.
REASON_KINDS = {"file": "file", "parse": "parse", "pdf": "pdf", "schema": "invoice",
                "invoice": "invoice", "party": "invoice", "seller": "invoice",
                "line": "invoice", "total": "invoice", "text": "invoice"}


# A Python exception's class name (with the colon after it) and errno's bracket: never
# shown to a person (SPEC §3). The daemon keeps them in its log and in `--json` for IT.
EXCEPTION_NAME = re.compile(r"\b[A-Z][a-zA-Z]+(Error|Exception|Warning)\b(: ?)?")
_ERRNO = re.compile(r"\[Errno \d+\] ")
_EMPTY = re.compile(r"\s*[(（]\s*[)）]")  # the brackets a class name was taken out of


def clean(text: str) -> str:
    """`text` without Python's words for an error: its class name, `[Errno N]`."""
    out = _EMPTY.sub("", _ERRNO.sub("", EXCEPTION_NAME.sub("", text)))
    return out.strip().rstrip(":：").strip() or "-"


def language(environ: Mapping[str, str]) -> str:
    """`zh` when the locale is Chinese, else `en`: the first of LC_ALL, LC_MESSAGES and
    LANG that is set decides, in the order POSIX gives them."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name)
        if value:
            return ZH if value.lower().startswith("zh") else EN
    return EN


def text(msg_id: str, lang: str, *args: object, **fields: object) -> str:
    """The message in `lang`, its fields filled in."""
    zh, en = TEXTS[msg_id]
    return (zh if lang == ZH else en).format(*args, **fields)


def both(msg_id: str, **fields: object) -> str:
    """`Chinese / English`, as a report that both kinds of reader share says it."""
    return f"{text(msg_id, ZH, **fields)} / {text(msg_id, EN, **fields)}"


def state(value: str, lang: str) -> str:
    """A job state as a clerk says it; an unknown one as it is."""
    found = TEXTS.get(f"state.{value}")
    return value if found is None else found[0] if lang == ZH else found[1]


def reason(code: str | None, lang: str) -> str:
    """Why a job is where it is. A validation code that has no words of its own is told
    by its kind, with the code that the report and `show` explain."""
    if not code:
        return ""
    found = TEXTS.get(f"reason.{code}")
    if found is not None:
        return found[0] if lang == ZH else found[1]
    kind = REASON_KINDS.get(code.split(".", 1)[0])
    if kind is None:
        return code
    label = TEXTS[f"reason_kind.{kind}"][0 if lang == ZH else 1]
    return f"{label}（{code}）" if lang == ZH else f"{label} ({code})"
