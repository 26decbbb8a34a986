"""The dashboard's words, in Chinese and English, by id. Finance and IT at head office read
Chinese first; English when the browser prefers it. Templates call `t(id)`.
"""

from __future__ import annotations

ZH, EN = "zh", "en"

# id -> (Chinese, English); the same str.format fields in both.
WORDS: dict[str, tuple[str, str]] = {
    "title": ("总部发票看板", "Head office invoices"),
    "nav.overview": ("各站概览", "Stations"), "nav.invoices": ("发票查询", "Invoices"),
    "nav.daily": ("每日汇总", "Daily totals"), "nav.logout": ("退出", "Log out"),
    "nav.lang": ("English", "中文"), "who": ("用户：{user}", "User: {user}"),
    # -- overview --
    "ov.stations": ("站点", "Stations"), "ov.problems": ("有问题的站点", "Stations with a problem"),
    "ov.today": ("今日已打印", "Printed today"), "ov.today_total": ("今日金额", "Today's total"),
    "ov.pending": ("待上传事件", "Events not yet sent"),
    "ov.none": ("还没有站点上传过数据", "No station has sent anything yet"),
    "ov.voided_note": ("金额不含作废发票", "Totals leave out voided invoices"),
    # -- columns --
    "col.station": ("站点", "Station"), "col.contact": ("最后联系", "Last contact"),
    "col.acked": ("已确认序号", "Acked seq"), "col.backlog": ("积压", "Backlog"),
    "col.today": ("今日打印", "Printed today"), "col.offline": ("离线额度已用",
                                                             "Offline budget used"),
    "col.chain": ("日志链", "Chain"), "col.status": ("状态", "Status"),
    "col.day": ("日期", "Day"), "col.printed": ("打印张数", "Printed"),
    "col.voided": ("作废", "Voided"), "col.total": ("金额", "Total"),
    "col.unpriced": ("无金额", "Without amount"),
    "total.overflow": ("金额过大，无法合计", "too large to add up"),
    "col.number": ("发票号码", "Number"), "col.code": ("发票代码", "Code"),
    "col.key": ("发票", "Invoice"), "col.kind": ("种类", "Kind"),
    "col.date": ("开票日期", "Date"), "col.buyer": ("购买方", "Buyer"),
    "col.buyer_tin": ("购买方税号", "Buyer TIN"), "col.state": ("状态", "State"),
    "col.prints": ("打印次数", "Prints"), "col.printed_at": ("打印时间", "Printed at"),
    "col.voided_at": ("作废时间", "Voided at"), "col.job": ("任务", "Job"),
    # -- states and ages --
    "state.printed": ("已打印", "printed"), "state.voided": ("已作废", "voided"),
    "chain.ok": ("正常", "OK"),
    "chain.conflict": ("冲突：序号 {seq}，自 {since}", "conflict at seq {seq} since {since}"),
    "chain.bad_hash": ("哈希不符：序号 {seq}，自 {since}",
                       "hash mismatch at seq {seq} since {since}"),
    "problem.chain": ("日志链断开", "chain broken"),
    "problem.silent": ("超过 1 小时未联系", "no contact for over 1 h"),
    "problem.backlog": ("积压超过 1 小时", "backlog older than 1 h"),
    "problem.none": ("正常", "OK"),
    "age.now": ("刚刚", "just now"), "age.s": ("{n} 秒前", "{n} s ago"),
    "age.m": ("{n} 分钟前", "{n} min ago"), "age.h": ("{n} 小时前", "{n} h ago"),
    "age.d": ("{n} 天前", "{n} days ago"), "never": ("从未", "never"),
    "backlog.none": ("无", "none"),
    "backlog.some": ("{n} 个事件，最早 {age}", "{n} events, oldest {age}"),
    "backlog.unknown": ("未知（站点未报告）", "unknown (no report)"),
    "report.old": ("报告已旧：{age}", "report is old: {age}"),
    "unknown": ("—", "—"),
    # -- a station --
    "st.title": ("站点 {id}", "Station {id}"), "st.details": ("概况", "Details"),
    "st.first": ("首次联系", "First contact"), "st.last_event": ("最新事件时间",
                                                                  "Newest event"),
    "st.duplicates": ("重复上传的事件", "Duplicate events"),
    "st.chain_error": ("链错误", "Chain error"),
    "st.report_at": ("站点报告时间", "Station's report"),
    "st.unacked": ("站点未确认的已打印发票", "Printed at the station, unacknowledged"),
    "st.days": ("近 30 天每日打印", "Printed per day, last 30 days"),
    "st.missing": ("缺失的发票：站点已打印，总部尚未收到",
                   "Missing invoices: printed at the branch, not yet at head office"),
    "st.missing_none": ("没有缺失的发票", "No invoice is missing"),
    "st.missing_more": ("站点报告只列出最早的 {n} 张",
                        "The station's report lists the first {n} only"),
    "st.latest": ("最新收到的发票", "Latest invoices received"),
    "st.unknown": ("没有站点 {id}", "No station {id}"),
    # -- search --
    "f.number": ("发票号码", "Invoice number"), "f.buyer": ("购买方名称或税号", "Buyer or TIN"),
    "f.station": ("站点", "Station"), "f.since": ("起始日期", "From"),
    "f.until": ("截止日期", "To"), "f.state": ("状态", "State"), "f.any": ("全部", "any"),
    "f.go": ("查询", "Search"), "f.csv": ("导出 CSV", "Export CSV"),
    "f.more": ("下一页 →", "Next page →"), "f.first": ("← 第一页", "← First page"),
    "f.none": ("没有记录", "Nothing found"),
    "f.capped": ("只显示前 {n} 行，完整数据请导出 CSV",
                 "Only the first {n} rows are shown: export the CSV for all"),
    # -- login --
    "login.title": ("登录", "Log in"), "login.user": ("用户名", "User name"),
    "login.password": ("密码", "Password"), "login.submit": ("登录", "Log in"),
    "login.wrong": ("用户名或密码不正确", "Wrong user name or password"),
    "login.wait": ("尝试次数过多：请 {s} 秒后再试", "Too many attempts: try again in {s} s"),
    "login.none": ("尚未设置登录账号：请 IT 运行 printstation receiver passwd 用户名 --users 文件",
                   "No logins are set up: ask IT to run printstation receiver passwd USER "
                   "--users FILE"),
    # -- errors --
    "err.csrf": ("请求无效（表单已过期）：请刷新页面后重试",
                 "Refused: the form is stale or forged; reload the page and try again"),
    "err.not_found": ("找不到此页面", "No such page"),
    "err.internal": ("内部错误：详见接收服务日志", "Internal error: see the receiver's log"),
    "err.bad_date": ("日期无效：{value}（应为 年-月-日，如 2024-05-01）",
                     "Not a date: {value} (a date is YYYY-MM-DD, as 2024-05-01)"),
    "err.bad_state": ("状态无效：{value}", "Not a state: {value}"),
}

# CSV column headings, by the language of the page the export was asked from.
INVOICE_CSV = ("col.station", "col.code", "col.number", "col.kind", "col.date",
               "col.buyer", "col.buyer_tin", "col.total", "col.state", "col.prints",
               "col.printed_at", "col.voided_at", "col.job", "col.key")
DAILY_CSV = ("col.day", "col.station", "col.printed", "col.voided", "col.total",
             "col.unpriced")


def t(msg_id: str, lang: str, **fields: object) -> str:
    zh, en = WORDS[msg_id]
    return (zh if lang == ZH else en).format(**fields)
