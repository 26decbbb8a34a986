"""Validation problems: a stable code, a field path, and a message in Chinese and English.

Every message a clerk may read is in `MESSAGES`, so the daemon's `X.error.txt`, the
result files and `printstation validate` all say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# code -> (Chinese template, English template); templates use str.format fields.
MESSAGES: dict[str, tuple[str, str]] = {
    "file.not_regular": ("不是普通文件（{what}），未打开。",
                         "Not a regular file ({what}); it was not opened."),
    "file.too_large": ("文件过大：{size_mb} MB，上限 {max_mb} MB。",
                       "File too large: {size_mb} MB, the limit is {max_mb} MB."),
    "file.encoding": ("文件编码无法识别：应为 UTF-8 或 GB18030。{detail}",
                      "Unknown text encoding: expected UTF-8 or GB18030. {detail}"),
    "file.type": ("不支持的文件类型“{ext}”：{detail}", "Unsupported file type '{ext}': {detail}"),
    "file.duplicate": ("同一文件已于 {at} 接收（任务 {job}）。",
                       "The same file was already taken at {at} (job {job})."),
    "parse.json": ("JSON 格式错误：{detail_zh}", "Not valid JSON: {detail}"),
    "parse.xml": ("XML 格式错误：{detail}", "Not valid XML: {detail}"),
    "parse.pdf": ("PDF 无法打开：{detail}", "The PDF cannot be opened: {detail}"),
    "pdf.encrypted": ("PDF 已加密，无法打印。", "The PDF is encrypted and cannot be printed."),
    "schema.missing": ("缺少必填项。", "A required field is missing."),
    "schema.type": ("类型错误：应为{expected_zh}，实际为 {found}。",
                    "Wrong type: expected {expected}, found {found}."),
    "invoice.kind": ("发票种类“{found}”未知，应为 {allowed}。",
                     "Unknown invoice kind '{found}'; expected one of {allowed}."),
    "invoice.code": ("发票代码“{found}”错误：应为 10 位或 12 位数字。",
                     "Invoice code '{found}' is wrong: expected 10 or 12 digits."),
    "invoice.number": ("发票号码“{found}”错误：{expected_zh}。",
                       "Invoice number '{found}' is wrong: {expected}."),
    "invoice.date": ("开票日期“{found}”错误：{detail_zh}。",
                     "Invoice date '{found}' is wrong: {detail}."),
    "invoice.duplicate": ("发票 {key} 已于 {at} 打印（任务 {job}），未作废不能重复打印。",
                          "Invoice {key} was already printed at {at} (job {job}) and is not "
                          "voided; it cannot print again."),
    "seller.mismatch": ("销售方纳税人识别号 {found} 不是本站点的 {expected}。",
                        "Seller TIN {found} is not this station's {expected}."),
    "line.count": ("商品行数 {found} 不允许：{expected_zh}。",
                   "{found} item lines are not allowed: {expected}."),
    "total.amount": ("合计金额 {found} 与各行金额之和 {expected} 不符。",
                     "Total amount {found} does not equal the sum of line amounts {expected}."),
    "total.tax": ("合计税额 {found} 与各行税额之和 {expected} 不符。",
                  "Total tax {found} does not equal the sum of line taxes {expected}."),
    "total.sum": ("价税合计 {found} 不等于合计金额加合计税额 {expected}。",
                  "Total {found} does not equal total amount plus total tax {expected}."),
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


def problem(code: str, field: str = "", **params: Any) -> Problem:
    """Build the problem `code` at `field`, filling its message templates with `params`."""
    zh, en = MESSAGES[code]
    return Problem(code, field, zh.format_map(_Blank(params)).strip(),
                   en.format_map(_Blank(params)).strip())


class _Blank(dict):
    """Missing template fields print as nothing rather than raising."""

    def __missing__(self, key: str) -> str:
        return ""
