"""Validation problems: a stable code, a field path, and a message in Chinese and English.

Every message a clerk may read is in `MESSAGES`, so the daemon's `X.error.txt`, the
result files and `printstation validate` all say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# code -> (Chinese template, English template); templates use str.format fields.
MESSAGES: dict[str, tuple[str, str]] = {
    # What arrived is not a usable file.
    "file.not_regular": ("不是普通文件（{what}），未打开。",
                         "Not a regular file ({what}); it was not opened."),
    "file.too_large": ("文件过大：{size_mb} MB，上限 {max_mb} MB。",
                       "File too large: {size_mb} MB, the limit is {max_mb} MB."),
    "file.encoding": ("文件编码无法识别：应为 UTF-8 或 GB18030（GBK）。{detail_zh}",
                      "Unknown text encoding: expected UTF-8 or GB18030 (GBK). {detail}"),
    "file.type": ("不支持的文件类型“{ext}”：{detail_zh}",
                  "Unsupported file type '{ext}': {detail}"),
    "file.unreadable": ("本站点无权读取此文件（{detail_zh}）；"
                        "请让写入方给组 printstation 读权限后重新放入。",
                        "The station may not read this file ({detail}); have the writer give "
                        "group printstation read access and drop it again."),
    "file.too_complex": ("文件过于复杂，读取超出限制（{detail_zh}），未打印。",
                         "The file is too complex: reading it exceeded the reader's limits "
                         "({detail}); it was not printed."),
    "file.duplicate": ("同一文件已于 {at} 接收（任务 {job}）。",
                       "The same file was already taken at {at} (job {job})."),
    # Cannot be read as the format its name says.
    "parse.json": ("JSON 格式错误：{detail_zh}", "Not valid JSON: {detail}"),
    "parse.xml": ("XML 格式错误：{detail_zh}", "Not valid XML: {detail}"),
    "parse.pdf": ("PDF 无法打开：{detail_zh}", "The PDF cannot be opened: {detail}"),
    "pdf.encrypted": ("PDF 已加密，无法打印。", "The PDF is encrypted and cannot be printed."),
    "pdf.pages": ("PDF 有 {found} 页，最多 {expected} 页。",
                  "The PDF has {found} pages; at most {expected} are printed."),
    "pdf.page_size": ("页面内容 {found} 毫米，按原尺寸（100%）横放竖放都放不进纸张 "
                      "{expected} 毫米，未打印。请让开票方重新导出标准尺寸的发票，或请 IT 在 "
                      "/etc/printstation/stocks/einvoice.toml 中配置更大的纸张。",
                      "The page's content is {found} mm and does not fit the paper, {expected} "
                      "mm, at 100% either way round; it was not printed. Ask the issuer for a "
                      "standard-size copy, or have IT configure larger plain paper in "
                      "/etc/printstation/stocks/einvoice.toml."),
    "parse.ofd": ("OFD 无法读取：{detail_zh}", "The OFD cannot be read: {detail}"),
    "parse.zip": ("压缩文件无法读取：{detail_zh}", "The zip cannot be read: {detail}"),
    "zip.unsafe": ("压缩文件不安全，未解压：{detail_zh}",
                   "The zip is unsafe and was not extracted: {detail}"),
    "zip.contents": ("压缩文件应只含同一张发票的 XML、PDF 或 OFD：{detail_zh}",
                     "A zip must hold one invoice as XML, PDF or OFD and nothing else: "
                     "{detail}"),
    "ofd.external": ("OFD 引用了文件之外的资源（{detail_zh}），未打印。",
                     "The OFD refers to resources outside itself ({detail}); it was not "
                     "printed."),
    "bundle.mismatch": ("压缩包中的文件不是同一张发票：{detail_zh}",
                        "The bundle's files are not the same invoice: {detail}"),
    "file.not_invoice": ("不是已开具的发票（{detail_zh}），未打印。",
                         "This is not an issued invoice ({detail}); it was not printed."),
    "schema.missing": ("缺少必填项。{detail_zh}", "A required field is missing. {detail}"),
    "schema.type": ("类型错误：应为{expected_zh}，实际为 {found}。",
                    "Wrong type: expected {expected}, found {found}."),
    # The invoice itself.
    "invoice.kind": ("发票种类“{found}”未知，应为 {allowed}。",
                     "Unknown invoice kind '{found}'; expected one of {allowed}."),
    "invoice.code": ("发票代码“{found}”错误：应为 10 位或 12 位数字。{detail_zh}",
                     "Invoice code '{found}' is wrong: expected 10 or 12 digits. {detail}"),
    "invoice.number": ("发票号码“{found}”错误：{expected_zh}。",
                       "Invoice number '{found}' is wrong: {expected}."),
    "invoice.date": ("开票日期“{found}”错误：{detail_zh}。",
                     "Invoice date '{found}' is wrong: {detail}."),
    "invoice.duplicate": ("发票 {key} 已于 {at} 打印（任务 {job}），未作废不能重复打印。",
                          "Invoice {key} was already printed at {at} (job {job}) and is not "
                          "voided; it cannot print again."),
    "party.name": ("{party_zh}名称不能为空。", "The {party}'s name is empty."),
    "party.tin": ("{party_zh}纳税人识别号“{found}”错误：{detail_zh}。",
                  "The {party}'s taxpayer ID '{found}' is wrong: {detail}."),
    "seller.mismatch": ("销售方纳税人识别号 {found} 不是本站点的 {expected}。",
                        "Seller TIN {found} is not this station's {expected}."),
    # Item lines.
    "line.count": ("商品行数 {found} 不允许：{expected_zh}。",
                   "{found} item lines are not allowed: {expected}."),
    "line.amount": ("金额 {found} 错误：数量 × 单价 = {expected}（四舍五入到分）。",
                    "Amount {found} is wrong: quantity × unit price = {expected} "
                    "(rounded to the cent)."),
    "line.rate": ("税率 {found} 不允许，允许的税率：{allowed}。",
                  "Tax rate {found} is not allowed; allowed rates: {allowed}."),
    "line.tax": ("税额 {found} 与 金额 × 税率 = {expected} 相差 {diff}，超过允许的 {tolerance}。",
                 "Tax {found} differs from amount × rate = {expected} by {diff}, more than "
                 "the allowed {tolerance}."),
    # Totals.
    "total.amount": ("合计金额 {found} 与各行金额之和 {expected} 不符。",
                     "Total amount {found} does not equal the sum of line amounts {expected}."),
    "total.tax": ("合计税额 {found} 与各行税额之和 {expected} 不符。",
                  "Total tax {found} does not equal the sum of line taxes {expected}."),
    "total.sum": ("价税合计 {found} 不等于合计金额加合计税额 {expected}。",
                  "Total {found} does not equal total amount plus total tax {expected}."),
    "total.tax_tolerance": ("各行税额误差合计 {found}，超过允许的 {tolerance}。",
                            "The line tax differences add up to {found}, more than the "
                            "allowed {tolerance}."),
    "total.words": ("大写金额“{found}”与价税合计 {total} 不符，应为“{expected}”。",
                    "The amount in capitals '{found}' does not match the total {total}; "
                    "expected '{expected}'."),
    "total.limit": ("合计金额 {found} 超过开票限额 {limit}。",
                    "Total amount {found} is over the invoicing limit {limit}."),
    "text.too_long": ("内容过长：{detail_zh}。", "Text too long: {detail}."),
    # Why a job waits (not a validation problem): the paper in the printer.
    "paper.mismatch": ("打印机 {printer} 中下一张{stock}纸的号码是 {sheet}，发票号码是 {invoice}。"
                       "放入号码相符的纸（或作废其前面的纸）后自动继续。",
                       "The next {stock} sheet in {printer} is {sheet} but the invoice is "
                       "{invoice}; it prints once the matching sheet is next (load it, or "
                       "spoil the sheets before it)."),
    "offline.limit": ("离线限额已到：{detail_zh}。总部确认收到已打印的发票后自动继续。",
                      "Offline limit reached: {detail_en}. It prints once head office has "
                      "acknowledged the invoices already printed."),
    # Why a job could not go on at its printer (SPEC §9): moved aside, never blocking the
    # jobs behind it. The detail is what the renderer or CUPS said.
    "render.failed": ("按当前配置无法生成打印页面：{detail_zh}。请修正配置或版式，然后用"
                      " printstation release 放行此任务。",
                      "The page cannot be rendered with the current configuration: {detail}. "
                      "Fix the configuration or the stock layout, then `printstation "
                      "release` this job."),
    "printer.refused": ("打印机 {printer} 拒收此任务：{detail_zh}。请检查 CUPS 队列的设置，"
                        "然后用 printstation release 放行此任务。",
                        "Printer {printer} refused this job: {detail}. Check the CUPS queue's "
                        "set-up, then `printstation release` this job."),
    "printer.error": ("打印机 {printer} 对此任务报错（第 {attempts} 次，最多 {max_attempts} 次）："
                      "{detail_zh}。{next_zh}",
                      "Printer {printer} answered an error for this job (attempt {attempts} "
                      "of {max_attempts}): {detail}. {next_en}"),
}


@dataclass(frozen=True)
class Problem:
    code: str
    field: str
    zh: str
    en: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "field": self.field, "zh": self.zh, "en": self.en}

    def line(self) -> str:
        """One line for a clerk: code, field, Chinese, English."""
        where = f" {self.field}" if self.field else ""
        return f"[{self.code}]{where}: {self.zh} / {self.en}"


class Refused(Exception):
    """Raised by a reader to stop at a problem that ends reading the file."""

    def __init__(self, found: Problem):
        super().__init__(found.en)
        self.problem = found


def problem(code: str, field: str = "", **params: Any) -> Problem:
    """Build the problem `code` at `field`, filling its message templates with `params`."""
    zh, en = MESSAGES[code]
    return Problem(code, field, zh.format_map(_Blank(params)).strip(),
                   en.format_map(_Blank(params)).strip())


class _Blank(dict):
    """Missing template fields print as nothing rather than raising."""

    def __missing__(self, key: str) -> str:
        return ""
