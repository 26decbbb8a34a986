"""Reading e-invoice PDFs (`invoice.pdf_read`): the real files field by field, a synthetic
file for every layout trait met in the wild, the file-level refusals, and the rules that
pair labels with values by position and keep the fallback from taking a wrong number."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from pypdf import PdfReader, PdfWriter

from printstation.harness import einvoice_pdfs as made
from printstation.harness.docs import broken_xref_pdf, encrypted_pdf, pdf
from printstation.harness.kit import ROOT
from printstation.invoice import pdf_read
from printstation.invoice.pdf_identity import Facts, Run, normalise, page_facts
from printstation.invoice.pdf_read import read_pdf

REAL = ROOT / "tests" / "fixtures" / "real"
TODAY = dt.date(2026, 11, 29)


def close(box: tuple[float, ...], truth: tuple[float, ...], within: float = 0.5) -> bool:
    return all(abs(a - b) <= within for a, b in zip(box, truth, strict=True))


# -- the real files (tests/fixtures/real/SOURCES.md) -----------------------------------------

REAL_TRUTH = {
    "sdp_zp_2025_jiangsu_3items.pdf": made.Truth(
        number="25322000000337005189", date=dt.date(2025, 7, 22),
        title="电子发票（增值税专用发票）", total_amount=Decimal("8562.72"),
        total_tax=Decimal("256.88"), total=Decimal("8819.60"), source="positions"),
    "edge_ofd2pdf_reportlab_2022_guizhou_zp.pdf": made.Truth(
        number="00008006", code="052002100113", date=dt.date(2022, 5, 5),
        title="贵州增值税电子专用发票", total_amount=Decimal("24519.05"),
        total_tax=Decimal("735.57"), total=Decimal("25254.62"), source="positions"),
}
REAL_PAGES = {"sdp_zp_2025_jiangsu_3items.pdf": (210.0, 140.0),
              "edge_ofd2pdf_reportlab_2022_guizhou_zp.pdf": (583.33, 388.89)}


@pytest.mark.parametrize("name", sorted(REAL_TRUTH))
def test_every_real_pdf_is_read_field_by_field(name: str) -> None:
    data = (REAL / name).read_bytes()
    found, problems = read_pdf(data, member="dzfp.pdf")
    truth = REAL_TRUTH[name]
    assert problems == [] and len(found) == 1
    got = found[0]
    assert (got.number, got.code, got.date, got.title) == \
        (truth.number, truth.code, truth.date, truth.title)
    assert (got.total_amount, got.total_tax, got.total) == \
        (truth.total_amount, truth.total_tax, truth.total)
    assert got.total_amount + got.total_tax == got.total
    assert (got.format, got.pages, got.member, got.source) == ("pdf", (0,), "dzfp.pdf",
                                                               truth.source)
    assert got.page_mm == (REAL_PAGES[name],)
    assert got.key == (f"{truth.code}-{truth.number}" if truth.code else truth.number)
    # The ink box agrees with an independent measurement at 300 dpi.
    assert close(got.ink_mm[0], made.measure_ink(data)), (got.ink_mm, made.measure_ink(data))


def test_the_oversized_converted_file_reads_though_its_ink_fits_no_a4() -> None:
    # 583.3 × 388.9 mm: identity is read (the lead's fit check refuses it with
    # pdf.page_size); its ink is far larger than A4 either way round.
    [got], _ = read_pdf((REAL / "edge_ofd2pdf_reportlab_2022_guizhou_zp.pdf").read_bytes())
    left, top, right, bottom = got.ink_mm[0]
    assert right - left > 297 and bottom - top > 297


# -- synthetic files, one per trait ---------------------------------------------------------

TRAITS = made.every_trait()


@pytest.mark.parametrize("trait", sorted(TRAITS))
def test_every_layout_trait_is_read_exactly(trait: str) -> None:
    sample = TRAITS[trait]
    found, problems = read_pdf(sample.data)
    assert problems == []
    assert len(found) == len(sample.invoices)
    for got, truth in zip(found, sample.invoices, strict=True):
        assert (got.number, got.code, got.date, got.title) == \
            (truth.number, truth.code, truth.date, truth.title), trait
        assert (got.total_amount, got.total_tax, got.total) == \
            (truth.total_amount, truth.total_tax, truth.total), trait
        assert (got.pages, got.source) == (truth.pages, truth.source), trait
        assert got.page_mm == tuple(sample.page_mm[p] for p in truth.pages)
        for page, box in zip(truth.pages, got.ink_mm, strict=True):
            assert close(box, sample.ink_mm[page]), (trait, page, box, sample.ink_mm[page])


def test_three_merged_invoices_are_three_keys() -> None:
    found, _ = read_pdf(made.merged_three().data)
    assert [a.key for a in found] == ["25322000000337005189", "011001900311-37745385",
                                      "25322000000337005190"]
    assert [a.pages for a in found] == [(0,), (1,), (2,)]


def test_a_continued_invoice_keeps_its_pages_and_takes_totals_from_its_last() -> None:
    # Page 2 repeats the number (共2页 第2页) and states the totals; page 3, a 销货清单
    # with no number, belongs to it too; page 4 is the next invoice.
    first, second = read_pdf(made.continued().data)[0]
    assert first.pages == (0, 1, 2) and second.pages == (3,)
    assert (first.total_amount, first.total_tax, first.total) == \
        (Decimal("8562.72"), Decimal("256.88"), Decimal("8819.60"))
    assert len(first.ink_mm) == len(first.page_mm) == 3


def test_a_receipt_is_not_an_invoice() -> None:
    found, problems = read_pdf(made.receipt().data)
    assert found == [] and [p.code for p in problems] == ["file.not_invoice"]
    assert "no invoice number was found" in problems[0].en
    assert "未找到发票号码" in problems[0].zh


# -- file-level refusals ----------------------------------------------------------------------

@pytest.mark.parametrize(("data", "code"), [
    (b"hello", "parse.pdf"),
    (b"", "parse.pdf"),
    (b"%PDF-1.4\nnot really\n%%EOF", "parse.pdf"),
    (broken_xref_pdf(), "parse.pdf"),
    (encrypted_pdf(), "pdf.encrypted"),
    (pdf(pages=11), "pdf.pages"),
])
def test_files_that_cannot_be_read_are_refused_whole(data: bytes, code: str) -> None:
    found, problems = read_pdf(data)
    assert found == [] and [p.code for p in problems] == [code]


def test_eleven_pages_name_the_count_and_the_limit() -> None:
    _, [found] = read_pdf(pdf(pages=11))
    assert "11" in found.en and "10" in found.en


def test_running_out_of_memory_is_not_called_damage(monkeypatch: pytest.MonkeyPatch) -> None:
    # The jail turns a MemoryError into file.too_complex; a reader that swallowed it would
    # call a huge file broken.
    def exhausted(*_args: object, **_kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(pdf_read, "PdfReader", exhausted)
    with pytest.raises(MemoryError):
        read_pdf(made.digital().data)


def test_without_pdftoppm_the_whole_page_is_the_ink_and_source_says_so(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    [got], problems = read_pdf(made.legacy_didi().data)
    assert problems == [] and got.number == "37745385"
    assert got.ink_mm == ((0.0, 0.0, 215.2, 139.0),)
    assert got.source == "positions; ink not measured: whole page"


def test_page_size_comes_from_the_crop_box_turned_by_rotate() -> None:
    rotated = PdfReader(io.BytesIO(made.rotated().data)).pages[0]
    assert rotated.get("/Rotate") == 90 and float(rotated.mediabox.width) < float(
        rotated.mediabox.height)
    assert pdf_read.page_view(rotated).mm == (215.2, 139.0)
    offset = PdfReader(io.BytesIO(made.offset_boxes().data)).pages[0]
    assert float(offset.mediabox.left) == 100.0
    assert pdf_read.page_view(offset).mm == (210.0, 140.0)


# -- how labels, positions and the fallback decide ----------------------------------------------

def runs(*items: tuple[float, float, str], size: float = 9.0) -> list[Run]:
    """Runs from (x, y, text) in points, in content order."""
    return [Run(normalise(text), x, y, size, True, i) for i, (x, y, text) in enumerate(items)]


def test_a_value_a_point_lower_than_its_label_is_still_its_value() -> None:
    facts = page_facts(runs((400, 30, "发票号码:"), (10, 200, "合计"),
                            (445, 31.5, "25322000000337005189")), TODAY)
    assert (facts.number, facts.source) == ("25322000000337005189", "positions")


def test_a_number_is_never_the_value_of_the_next_label_on_its_row() -> None:
    facts = page_facts(runs((400, 30, "发票号码:"), (500, 30, "校验码:"),
                            (540, 30, "25322000000337005189")), TODAY)
    assert facts.number == ""


def test_a_label_and_value_in_one_run_are_labels() -> None:
    facts = page_facts(runs((400, 30, "发票号码：25322000000337005189")), TODAY)
    assert (facts.number, facts.source) == ("25322000000337005189", "labels")


def test_kangxi_radicals_and_compatibility_ideographs_read_as_the_characters_they_show() -> None:
    shown = normalise("开票⽇期：2025年07⽉22⽇ ⾦额 ⼈ \uf9b2")
    assert shown == "开票日期:2025年07月22日 金额 人 零"
    facts = page_facts(runs((400, 30, "发票号码：24322000000489101796"),
                            (400, 45, "开票⽇期：2024年03⽉09⽇")), TODAY)
    assert facts.date == dt.date(2024, 3, 9)


@pytest.mark.parametrize("written", ["20221024年月日", "2022年10月24日", "2022-10-24",
                                     "2022 年 10 月 24 日"])
def test_every_date_form_is_read(written: str) -> None:
    facts = page_facts(runs((400, 30, "发票号码：25322000000337005189"),
                            (400, 45, "开票日期:"), (440, 45, written)), TODAY)
    assert facts.date == dt.date(2022, 10, 24)


@pytest.mark.parametrize("row", [
    "校验码: 25322000000337005189",        # the check code written as one token
    "开户行及账号: 招商银行 25322000000337005189",
    "购方电话 25322000000337005189",
    "纳税人识别号: 25322000000337005189",
    "25322 00000 33700 51895",            # a check code in groups of five
    "62220202001122334455",               # no plausible year: a bank account
    "17322000000337005189",               # 数电 numbers began in 2021
    "25992000000337005189",               # 99 is no province
])
def test_the_fallback_never_takes_a_number_it_cannot_vouch_for(row: str) -> None:
    facts = page_facts(runs((20, 30, "电子发票(普通发票)"), (20, 60, row)), TODAY)
    assert facts.number == "" and facts.source == ""


def test_the_fallback_takes_a_whole_plausible_number() -> None:
    facts = page_facts(runs((20, 30, "电子发票(普通发票)"), (400, 30, "25322000000337005189")),
                       TODAY)
    assert (facts.number, facts.source, facts.title) == \
        ("25322000000337005189", "fallback", "电子发票（普通发票）")


def test_a_legacy_number_needs_its_code_and_never_comes_from_a_machine_number() -> None:
    lone = page_facts(runs((400, 30, "00123456")), TODAY)
    assert lone.number == ""
    facts = page_facts(runs((20, 30, "机器编号: 044031900111"), (400, 30, "011001900311"),
                            (400, 45, "37745385"), (20, 80, "地址、电话: 北京 62345678")),
                       TODAY)
    assert (facts.code, facts.number, facts.source) == ("011001900311", "37745385", "fallback")


def test_the_number_a_red_letter_invoice_cancels_is_not_its_own() -> None:
    facts = page_facts(runs((20, 300, "对应蓝字发票号码: 25322000000337005189"),
                            (400, 30, "发票号码: 25322000000337009999")), TODAY)
    assert facts.number == "25322000000337009999"


def test_totals_are_kept_only_when_they_add_up() -> None:
    sums = page_facts(runs((400, 30, "发票号码:25322000000337005189"),
                           (20, 200, "合 计"), (300, 200, "¥100.00"), (400, 200, "¥13.00"),
                           (20, 220, "价税合计(大写)"), (300, 220, "(小写)¥113.00")), TODAY)
    assert (sums.total_amount, sums.total_tax, sums.total) == \
        (Decimal("100.00"), Decimal("13.00"), Decimal("113.00"))
    wrong = page_facts(runs((400, 30, "发票号码:25322000000337005189"),
                            (20, 200, "合 计"), (300, 200, "¥100.00"), (400, 200, "¥12.00"),
                            (20, 220, "价税合计(大写)"), (300, 220, "(小写)¥113.00")), TODAY)
    assert (wrong.total_amount, wrong.total_tax, wrong.total) == (None, None, Decimal("113.00"))
    # 免税: the tax is written ***, and the total equals the amount: the tax is surely 0.
    exempt = page_facts(runs((400, 30, "发票号码:25322000000337005189"),
                             (20, 200, "合 计"), (300, 200, "¥100.00"), (400, 200, "***"),
                             (20, 220, "价税合计(大写)"), (300, 220, "(小写)¥100.00")), TODAY)
    assert (exempt.total_amount, exempt.total_tax, exempt.total) == \
        (Decimal("100.00"), Decimal("0.00"), Decimal("100.00"))
    # No 价税合计 row: the largest ¥ amount is the total, as a last resort.
    bare = page_facts(runs((400, 30, "发票号码:25322000000337005189"),
                           (20, 200, "¥5.00"), (20, 220, "¥1,205.50")), TODAY)
    assert (bare.total_amount, bare.total_tax, bare.total) == (None, None, Decimal("1205.50"))


def test_pages_group_into_invoices_by_their_numbers() -> None:
    a, b = Facts(number="25322000000337005189"), Facts(number="25322000000337005190")
    blank = Facts()
    # The repeated number continues the invoice only on a page that says it continues.
    assert pdf_read._invoices([blank, a, a, blank, b], [False, False, True, False, False]) \
        == [[0, 1, 2, 3], [4]]
    assert pdf_read._invoices([blank, a, a, blank, b], [False] * 5) == [[0, 1], [2, 3], [4]]
    assert pdf_read._invoices([blank, blank], [False] * 2) == []


# -- another invoice's identity on the page, identifiers apart from their names ----------------

@pytest.mark.parametrize("remark_y", [80.0, 112.0])
@pytest.mark.parametrize("block", ["line", "column"])
def test_a_red_letter_invoice_reads_as_its_own_not_as_the_one_it_cancels(
        block: str, remark_y: float) -> None:
    # Its remark `对应正数发票代码: 011001900311 号码: 37745385` names the blue invoice with a
    # plausible code and an 8-digit number, in the item area (80) or the remarks (112).
    sample = made.red_letter(block, remark_y)
    [truth] = sample.invoices
    [got], problems = read_pdf(sample.data)
    assert problems == []
    assert (got.key, got.source) == ("011001900322-37745999", truth.source)
    assert (got.total_amount, got.total_tax, got.total) == \
        (Decimal("-25.47"), Decimal("-0.76"), Decimal("-26.23"))


@pytest.mark.parametrize("label", ["对应正数发票代码:", "正数发票代码:", "原发票代码:",
                                   "蓝字发票代码:", "红字发票代码:", "对应发票代码:"])
def test_a_code_and_number_named_as_another_invoice_s_are_never_this_one_s(label: str) -> None:
    facts = page_facts(runs((20, 30, "增值税电子普通发票"),
                            (20, 120, f"{label} 011001900311 发票号码: 37745385")), TODAY)
    assert (facts.code, facts.number, facts.source) == ("", "", "")
    # The same code and number without the words before them are the page's own.
    own = page_facts(runs((20, 30, "增值税电子普通发票"),
                          (20, 120, "发票代码: 011001900311 发票号码: 37745385")), TODAY)
    assert (own.code, own.number) == ("011001900311", "37745385")


def test_nothing_below_the_grand_total_line_is_the_invoice_s_identity() -> None:
    def page(y: float, text: str) -> Facts:
        return page_facts(runs((20, 30, "电子发票(普通发票)"),
                               (20, 200, "价税合计(大写) 壹佰圆整 (小写)¥100.00"), (20, y, text)),
                          TODAY)

    # The seller's block and the remarks stand below the 价税合计 line.
    for text in ("发票号码: 25322000000337005189", "25322000000337005189"):
        assert page(240, text).number == "", text
        assert page(120, text).number == "25322000000337005189", text


@pytest.mark.parametrize("name", ["银行账号:", "开户行:", "纳税人识别号:", "电话:", "地址:",
                                  "校验码:"])
def test_a_token_far_right_of_another_identifier_s_name_is_never_the_number(name: str) -> None:
    # 326 pt apart: two stretches of one row, as a bank account drawn apart from its label.
    apart = page_facts(runs((20, 30, "电子发票(普通发票)"), (20, 60, name),
                            (400, 60, "25322000000337005189")), TODAY)
    assert (apart.number, apart.source) == ("", "")
    own_row = page_facts(runs((20, 30, "电子发票(普通发票)"), (20, 60, name),
                              (400, 80, "25322000000337005189")), TODAY)
    assert (own_row.number, own_row.source) == ("25322000000337005189", "fallback")


@pytest.mark.parametrize("row_y", [103.0, 70.0])
def test_a_bank_account_shaped_like_a_number_makes_no_invoice(row_y: float) -> None:
    # No 发票号码 is readable; the account 25320101040012345678 (year 25, province 32) far
    # right of `银行账号:`, below the 价税合计 line (103) or above the 合计 line (70).
    found, problems = read_pdf(made.account_apart(row_y).data)
    assert found == [] and [p.code for p in problems] == ["file.not_invoice"]


def test_a_page_shown_turned_has_no_line_below_the_grand_total() -> None:
    # An upright invoice given /Rotate 90: every run reads downwards, each is a row of its
    # own, and the number's row lies "below" 价税合计 by y alone; it is still the number.
    writer = PdfWriter(clone_from=io.BytesIO(made.digital().data))
    writer.pages[0].rotate(90)
    turned = io.BytesIO()
    writer.write(turned)
    [got], problems = read_pdf(turned.getvalue())
    assert problems == [] and got.number == made.DIGITAL.number
    facts = page_facts([Run("价税合计(大写)", 40, 46, 9, False, 0),
                        Run("25322000000337005189", 480, 480, 9, False, 1)], TODAY)
    assert (facts.number, facts.source) == ("25322000000337005189", "fallback")
