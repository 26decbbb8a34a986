"""The console's words, in Chinese and English, by id; and the daemon's English lines said in
the clerk's language.

Job states, reasons and operator replies come from the one catalogue (`base/texts.py`), so
the console says them exactly as the CLI does; this table adds only what a page has and a
terminal does not (navigation, headings, buttons, form labels). Templates call `t(id)`.
"""

from __future__ import annotations

from printstation.base import reply_texts, texts
from printstation.base.texts import EN, ZH, clean

# id -> (Chinese, English); the same str.format fields in both.
WORDS: dict[str, tuple[str, str]] = {
    "title": ("发票打印站", "Invoice print station"),
    "nav.overview": ("概览", "Overview"), "nav.queue": ("打印队列", "Queue"),
    "nav.rejected": ("拒收文件", "Rejected files"), "nav.invoices": ("发票查询", "Invoices"),
    "nav.paper": ("纸张", "Paper"), "nav.calibration": ("套打校准", "Calibration"),
    "nav.login": ("登录", "Log in"), "nav.logout": ("退出", "Log out"),
    "nav.lang": ("English", "中文"),
    "who": ("操作员：{user}", "Clerk: {user}"),
    "readonly": ("只读：要操作，请先登录", "Read only: log in to act"),
    "no_users": ("尚未设置登录账号：请 IT 运行 printstation web passwd 用户名",
                 "No logins are set up: ask IT to run printstation web passwd USER"),
    "no_journal": ("还没有日志库（服务尚未运行过）", "No journal yet (the daemon has not run)"),
    "live": ("自动刷新", "live"), "stale": ("有新变化，请刷新页面", "changed: reload the page"),
    # -- overview --
    "ov.jobs": ("各状态任务数", "Jobs per state"), "ov.printers": ("打印机", "Printers"),
    "ov.paper": ("剩余纸张", "Paper left"), "ov.sync": ("与总部同步", "Sync with head office"),
    "ov.offline": ("离线额度", "Offline budget"), "ov.errors": ("最近的问题", "Recent problems"),
    "ov.daemon": ("服务", "Daemon"), "ov.running": ("运行中", "running"),
    "ov.not_running": ("未运行", "not running"), "ov.health": ("状态", "health"),
    "ov.waiting": ("等待", "waiting"), "ov.backlog": ("待上传事件", "events to send"),
    "ov.acked": ("总部已确认至", "acknowledged through"), "ov.state": ("状态", "state"),
    "ov.last_error": ("上次错误", "last error"), "ov.no_limit": ("无限制", "no limit"),
    "ov.unacked": ("未确认的已打印发票", "printed invoices not acknowledged"),
    "ov.oldest_h": ("最早（小时）", "oldest (hours)"), "ov.limit_h": ("上限（小时）",
                                                                 "limit (hours)"),
    "ov.limit_total": ("金额上限", "amount limit"), "ov.none": ("无", "none"),
    "ov.low": ("纸将用完", "low"),
    # -- columns and fields --
    "col.id": ("任务号", "Job"), "col.state": ("状态", "State"), "col.reason": ("原因", "Reason"),
    "col.invoice": ("发票", "Invoice"), "col.printer": ("打印机", "Printer"),
    "col.file": ("文件", "File"), "col.at": ("时间", "Time"), "col.type": ("事件", "Event"),
    "col.detail": ("内容", "Details"), "col.code": ("代码", "Code"), "col.field": ("字段", "Field"),
    "col.problem": ("问题", "Problem"), "col.stock": ("纸种", "Stock"),
    "col.loaded": ("已装入", "Loaded"), "col.free": ("未用", "Free"), "col.used": ("已用", "Used"),
    "col.spoiled": ("损坏", "Spoiled"), "col.voided": ("作废", "Voided"),
    "col.next": ("下一张", "Next sheet"), "col.buyer": ("购买方", "Buyer"),
    "col.seller": ("销售方", "Seller"),
    "col.date": ("开票日期", "Date"), "col.total": ("价税合计", "Total"),
    "col.prints": ("打印次数", "Prints"), "col.sheet": ("纸号", "Sheet"),
    "col.printed_at": ("打印时间", "Printed"), "col.kind": ("种类", "Kind"),
    "col.seq": ("序号", "Seq"), "col.in_printer": ("打印中", "In printer"),
    "col.count": ("数量", "Count"),
    # -- filters, paging --
    "f.state": ("状态", "State"), "f.printer": ("打印机", "Printer"), "f.any": ("全部", "any"),
    "f.text": ("发票号码或文件名", "Invoice number or file name"),
    "f.search": ("发票号码或购买方", "Invoice number or buyer"),
    "f.since": ("起始日期", "From"), "f.until": ("截止日期", "To"), "f.go": ("查询", "Search"),
    "f.more": ("更早的 →", "Older →"), "f.first": ("← 最新", "← Newest"),
    "f.none": ("没有记录", "Nothing found"),
    # -- a job --
    "job.title": ("任务 {id}", "Job {id}"), "job.events": ("事件记录", "History"),
    "job.picture": ("打印页面", "The page"),
    "job.picture_note": ("已打印的任务显示归档的页面；未打印的任务显示将要打印的页面",
                         "A printed job shows its archived page; any other job the page it "
                         "will print"),
    "job.missing": ("没有任务 {id}", "No job {id}"),
    "inv.title": ("发票 {key}", "Invoice {key}"), "inv.jobs": ("任务", "Jobs"),
    "inv.missing": ("本站没有发票 {key}", "No invoice {key} here"),
    # -- actions --
    "act.hold": ("暂停", "Hold"), "act.release": ("放行", "Release"),
    "act.requeue": ("立即重试", "Retry now"), "act.cancel": ("取消", "Cancel"),
    "act.note": ("备注", "Note"), "act.reason": ("原因", "Reason"),
    "act.resolve": ("确认结果", "Settle"), "act.printed": ("已打印出", "It printed"),
    "act.spoiled": ("未打印出（纸张损坏）", "It did not (sheet spoiled)"),
    "act.void": ("作废", "Void"), "act.reprint": ("重打", "Reprint"),
    "act.void_confirm": ("确认作废这张发票？", "Void this invoice?"),
    "act.load": ("装纸", "Load sheets"), "act.spoil": ("登记损坏", "Spoil sheets"),
    "act.code": ("发票代码", "Invoice code"), "act.first": ("起始号码", "First number"),
    "act.last": ("结束号码", "Last number"), "act.count": ("张数", "Sheets"),
    "act.selected": ("所选任务", "Selected jobs"),
    "act.default_printer": ("默认打印机", "default printer"),
    "act.need_login": ("请先登录", "Log in first"),
    "act.done": ("已完成", "Done"),
    "act.bad_number": ("{field}：请输入数字", "{field}: a number is required"),
    "act.need_reason": ("请填写原因", "A reason is required"),
    "act.need_ids": ("请先选择任务", "Select jobs first"),
    # -- calibration --
    "cal.choose": ("选择打印机和纸种", "Printer and stock"), "cal.show": ("显示", "Show"),
    "cal.current": ("当前偏移：x = {x} 毫米，y = {y} 毫米",
                    "Current offset: x = {x} mm, y = {y} mm"),
    "cal.new": ("新偏移（毫米，x 向右为正，y 向下为正）",
                "New offset (mm; x right-positive, y down-positive)"),
    "cal.try": ("预览", "Preview"), "cal.set": ("保存偏移", "Save the offset"),
    "cal.picture": ("样票套在空白发票上的效果", "The sample invoice over the blank form"),
    "cal.saved": ("{printer} {stock}：偏移 {old} → {new} 毫米，已写入 {file}",
                  "{printer} {stock}: offset {old} -> {new} mm, written to {file}"),
    "cal.reloaded": ("服务已重新加载配置", "the daemon reloaded its config"),
    "cal.no_daemon": ("服务未运行：新偏移在服务启动时生效",
                      "no running daemon: the offset applies when it starts"),
    "cal.no_write": ("偏移保存在 {folder}，只有 IT 可以修改：请 IT 运行 printstation calibrate "
                     "{printer} --stock {stock} --offset {x},{y}",
                     "offsets live in {folder}, which only IT may change: ask IT to run "
                     "printstation calibrate {printer} --stock {stock} --offset {x},{y}"),
    "cal.bad": ("偏移应为 -30 到 30 毫米之间、精确到 0.1 毫米的数字",
                "an offset is a number from -30 to 30 mm in 0.1 mm steps"),
    "cal.off_page": ("这个偏移会把 {fields} 移出纸面", "this offset moves {fields} off the page"),
    # -- login --
    "login.title": ("登录", "Log in"), "login.user": ("用户名", "User name"),
    "login.password": ("密码", "Password"), "login.submit": ("登录", "Log in"),
    "login.wrong": ("用户名或密码不正确", "Wrong user name or password"),
    "login.wait": ("尝试次数过多：请 {s} 秒后再试", "Too many attempts: try again in {s} s"),
    "login.https": ("此页面通过 HTTP 打开，登录需要 HTTPS", "This page came over plain HTTP; "
                    "logging in needs HTTPS"),
    "login.expired": ("登录已过期，请重新登录", "Your login expired: log in again"),
    # -- errors --
    "err.csrf": ("请求无效（表单已过期）：请刷新页面后重试",
                 "Refused: the form is stale or forged; reload the page and try again"),
    "err.host": ("未知的主机名", "Unknown host name"),
    "err.not_found": ("找不到此页面", "No such page"),
    "err.internal": ("内部错误：详见控制台日志", "Internal error: see the console's log"),
    "err.picture": ("无法生成图片：{detail}", "No picture: {detail}"),
    "err.busy": ("正在生成其他图片：请稍后再试", "Busy drawing other pictures: try again shortly"),
    "err.bad_number": ("参数 {name} 应为不带符号的整数", "{name} must be a whole number"),
    "err.bad_date": ("日期无效：{value}（应为 年-月-日，如 2024-05-01）",
                     "Not a date: {value} (a date is YYYY-MM-DD, as 2024-05-01)"),
}



def t(msg_id: str, lang: str, **fields: object) -> str:
    zh, en = WORDS[msg_id]
    return (zh if lang == ZH else en).format(**fields)


def state(value: str | None, lang: str) -> str:
    return texts.state(value, lang) if value else ""


def reason(code: str | None, lang: str) -> str:
    return texts.reason(code, lang)


def sync_state(value: str | None, lang: str) -> str:
    found = texts.TEXTS.get(f"sync.{value}")
    return "" if value is None else value if found is None else found[0 if lang == ZH else 1]


def said(line: str, lang: str) -> str:
    """A line the daemon answered in English (`J1: queued -> held`), in `lang`: the
    catalogue's Chinese for a line of a known shape, else the line as it came, as the CLI
    says it (`base/reply_texts.py`)."""
    line = clean(line)
    return (reply_texts.translated(line) or line) if lang == ZH else line


__all__ = ["EN", "WORDS", "ZH", "reason", "said", "state", "t"]
