"""The message catalogue's entries for the command line's own words (issue 16): a name
typed that does not exist and the closest ones (cli/choices.py), calibration like 套打
(cli/rendering.py), progress (cli/progress.py) and a broken conf.d drop-in
(cli/read_config.py). Merged into `texts.TEXTS`, the one catalogue; kept in a module of its
own so that no module of the catalogue outgrows 400 lines.
"""

from __future__ import annotations

# id -> (Chinese, English); the same str.format fields in both.
TOOL_TEXTS: dict[str, tuple[str, str]] = {
    "pick.or": ("或", " or "),
    "pick.close": ("；您是否要输入 {close}？", "; did you mean {close}?"),
    "pick.state": ("没有状态 {typed}{close}（状态：{states}）",
                   "unknown state {typed}{close} (states: {states})"),
    "pick.printer": ("没有打印机 {printer}{close}（已配置：{names}）",
                     "no printer {printer}{close} (configured: {names})"),
    "pick.stock": ("打印机 {printer} 没有纸种 {stock}{close}（{stocks}）",
                   "printer {printer} has no stock {stock}{close} ({stocks})"),
    "pick.limit": ("--limit 应为 1 或以上", "--limit is 1 or more"),
    "warn.dropin": ("警告：忽略有错误的配置文件 {files}（{first}），服务下次启动或重新加载时"
                    "会拒绝它；`printstation check-config` 列出所有错误",
                    "warning: ignoring {files}, which is broken ({first}): the daemon will "
                    "refuse it at its next start or reload; `printstation check-config` lists "
                    "every error"),
    "check.dropin": ("配置文件 {files} 有错误（{first}），服务下次启动或重新加载时会拒绝它",
                     "config: {files} is broken ({first}): the daemon will refuse it at its "
                     "next start or reload"),
    "cal.offset": ("{printer} {stock}：偏移 {old} → {new} 毫米，已写入 {file}",
                   "{printer} {stock}: offset {old} -> {new} mm, written to {file}"),
    "cal.moved": ("打印位置已移动：{moves}", "moved the print {moves}"),
    "cal.no_daemon": ("服务未运行：新偏移在服务启动时生效",
                      "no running daemon: the offset applies when it starts"),
    "cal.lands": ("现在的打印位置（相对版式锚点）：{offset}",
                  "the print now lands at {offset} from the layout's anchors"),
    "cal.sheet": ("{stock} 校准页已发送到打印机 {printer}（{job}）；当前偏移 {offset}",
                  "calibration sheet for {stock} sent to {printer} ({job}); current offset "
                  "{offset}"),
    "cal.sample": ("样票 {key}（{stock}）已发送到打印机 {printer}（{job}），请用普通白纸；"
                   "当前偏移 {offset}", "sample invoice {key} for {stock} sent to {printer} "
                   "({job}) on plain paper; current offset {offset}"),
    "cal.no_sample": ("{folder} 中没有 {stock} 的样票：请改打校准页",
                      "no sample invoice of kind {stock} in {folder}: print the calibration "
                      "sheet instead"),
    "prog.verify": ("已检查事件", "events checked"),
    "prog.sync": ("已上传事件", "events sent"),
    "prog.journal": ("正在复制日志库", "copying the journal"),
    "prog.archive": ("已检查归档文件", "archive files checked"),
}
