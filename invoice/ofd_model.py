"""An OFD document (GB/T 33190) as a plain model: pages with their size and everything
drawn on them, the resources they use, and what the document says about itself.

`load(data)` follows the package from `OFD.xml` to `DocRoot`'s `Document.xml`, its
resources, templates, pages, annotations, attachments and signatures, and raises
`OfdRefused` with the problem for the clerk when the package is damaged, points outside
itself or is past a limit. Nothing is drawn here: the reader (in the jail) takes the text
and the ink from the model, the painter (in the daemon) draws it.

Paint order on a page, as OFD viewers show it: background templates, the page's layers
(Background, Body, Foreground), foreground templates, annotations, then the seals of
signatures. A signature's seal is drawn from the picture in its SES structure; a seal that
is itself a small OFD (the tax bureau's 监制章) is read with the same model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from xml.etree.ElementTree import Element

from .ofd_media import seal_picture, sniff
from .ofd_page import ImageItem, Item, PathItem, TextItem, Walker
from .ofd_res import Font, Media, Resources, resource_files
from .ofd_xml import (
    IDENTITY,
    Matrix,
    OfdRefused,
    Package,
    apply,
    broken,
    child,
    children,
    folder,
    local,
    move,
    rect,
    text,
    then,
    too_complex,
)

MAX_PAGES = 10
# An invoice carries one or two signatures (the issuer's, the tax bureau's); each seal is
# a small document of its own, so their number is what bounds the work they cause.
MAX_SIGNATURES = 8
MAX_STAMPS = 16
_LAYERS = {"Background": 0, "Body": 1, "Foreground": 2}


@dataclass
class Page:
    id: str
    width: float
    height: float
    items: list[Item] = field(default_factory=list)


@dataclass
class Document:
    pages: list[Page]
    resources: list[Resources]
    # OFD.xml's CustomData, by name (数电: 发票号码, 开票日期, 合计金额, 合计税额 …).
    custom: dict[str, str]
    # Package paths of attached XML files (legacy e-invoices attach original_invoice.xml).
    attachments: list[str]

    @property
    def package(self) -> Package:
        return self.resources[0].package

    def font(self, key: str) -> Font | None:
        return next((r.fonts[key] for r in self.resources if key in r.fonts), None)

    def media(self, key: str) -> Media:
        return next(r.media[key] for r in self.resources if key in r.media)

    def data(self, res: Font | Media, limit: int = 32 << 20) -> bytes:
        if isinstance(res, Media) and res.inline:
            return res.inline
        return self.resources[res.package].package.read(res.path, limit)


def load(data: bytes) -> Document:
    """The document in `data`, or OfdRefused."""
    return _load(Package(data), [], "", seals=True)


def _load(package: Package, resources: list[Resources], prefix: str, seals: bool) -> Document:
    if "OFD.xml" not in package.members:
        raise broken("OFD.xml is missing: not an OFD document", "缺少 OFD.xml，不是 OFD 文件")
    root = package.xml("OFD.xml")
    if local(root.tag) != "OFD":
        raise broken(f"OFD.xml's root is <{local(root.tag)[:40]}>, not <OFD>",
                     "OFD.xml 的根元素不是 <OFD>")
    body = child(root, "DocBody")
    info = child(body, "DocInfo")
    # CustomData normally sits in CustomDatas; some producers put it in DocInfo itself.
    custom = {(c.get("Name") or "").strip(): (c.text or "").strip()
              for c in (info.iter() if info is not None else ()) if local(c.tag) == "CustomData"}
    if not text(body, "DocRoot"):
        raise broken("OFD.xml names no DocRoot", "OFD.xml 缺少 DocRoot")
    doc_path = package.locate("", text(body, "DocRoot"), "DocRoot")
    doc = package.xml(doc_path)
    base = folder(doc_path)
    res = Resources(package, len(resources), prefix)
    resources.append(res)
    common = child(doc, "CommonData")
    for path in resource_files(package, base, common, ("PublicRes", "DocumentRes")):
        res.load(path)
    templates = {(t.get("ID") or "").strip(): package.locate(base, t.get("BaseLoc", ""),
                                                             "TemplatePage BaseLoc")
                 for t in children(common, "TemplatePage")}
    default_box = rect(text(child(common, "PageArea"), "PhysicalBox"), "PhysicalBox")
    entries = children(child(doc, "Pages"), "Page")
    if not entries:
        raise broken("the document has no pages", "文档没有页面")
    if len(entries) > MAX_PAGES:
        raise too_complex(f"the document has {len(entries)} pages (at most {MAX_PAGES})",
                          f"文档有 {len(entries)} 页（最多 {MAX_PAGES} 页）")
    paths = [package.locate(base, p.get("BaseLoc", ""), "Page BaseLoc") for p in entries]
    annots = _annotations(package, base, doc)
    attachments = _attachments(package, base, doc)
    pages = []
    for entry, path in zip(entries, paths, strict=True):
        pid = (entry.get("ID") or "").strip()
        pages.append(_page(res, path, pid, default_box, templates, annots.get(pid, [])))
    if seals and text(body, "Signatures"):
        _signatures(package, package.locate("", text(body, "Signatures"), "Signatures"),
                    pages, resources)
    return Document(pages, resources, custom, attachments)


def _page(res: Resources, path: str, pid: str, default_box, templates: dict[str, str],
          annots: list[Element]) -> Page:
    package = res.package
    xml = package.xml(path)
    for res_path in resource_files(package, folder(path), xml, ("PageRes",)):
        res.load(res_path)
    box = rect(text(child(xml, "Area"), "PhysicalBox"), "PhysicalBox") or default_box
    if box is None or box[2] <= 0 or box[3] <= 0:
        raise broken(f"page {path} has no size (PhysicalBox)",
                     f"页面 {path} 没有尺寸（PhysicalBox）")
    origin = move(-box[0], -box[1])
    walker = Walker(res)
    back: list[Item] = []
    front: list[Item] = []
    for use in children(xml, "Template"):
        tpl = templates.get((use.get("TemplateID") or "").strip())
        if tpl is None:
            raise broken(f"page {path} uses a template that is not declared",
                         f"页面 {path} 引用的模板未声明")
        target = front if use.get("ZOrder") == "Foreground" else back
        tpl_xml = package.xml(tpl)
        for res_path in resource_files(package, folder(tpl), tpl_xml, ("PageRes",)):
            res.load(res_path)
        _layers(walker, tpl_xml, origin, target)
    items = back
    _layers(walker, xml, origin, items)
    items.extend(front)
    for annot in annots:
        if annot.get("Visible") == "false" or annot.get("Print") == "false":
            continue
        for look in children(annot, "Appearance"):
            place = rect(look.get("Boundary"), "Appearance Boundary") or (0, 0, 0, 0)
            walker.content(look, then(move(place[0], place[1]), origin),
                           look.get("DrawParam"), items, 0)
    return Page(pid, box[2], box[3], items)


def _layers(walker: Walker, xml: Element, origin: Matrix, out: list[Item]) -> None:
    layers = children(child(xml, "Content"), "Layer")
    for layer in sorted(layers, key=lambda el: _LAYERS.get(el.get("Type") or "Body", 1)):
        walker.layer(layer, origin, out)


def _annotations(package: Package, base: str, doc: Element) -> dict[str, list[Element]]:
    """Page ID -> that page's annotations."""
    if not text(doc, "Annotations"):
        return {}
    path = package.locate(base, text(doc, "Annotations"), "Annotations")
    found: dict[str, list[Element]] = {}
    for page in children(package.xml(path), "Page"):
        where = text(page, "FileLoc")
        if where:
            annot_path = package.locate(folder(path), where, "Annotation FileLoc")
            found.setdefault((page.get("PageID") or "").strip(), []).extend(
                children(package.xml(annot_path), "Annot"))
    return found


def _attachments(package: Package, base: str, doc: Element) -> list[str]:
    if not text(doc, "Attachments"):
        return []
    path = package.locate(base, text(doc, "Attachments"), "Attachments")
    found = []
    for attachment in children(package.xml(path), "Attachment"):
        where = package.locate(folder(path), text(attachment, "FileLoc"), "Attachment FileLoc")
        if (attachment.get("Format") or "").lower() == "xml" or where.lower().endswith(".xml"):
            found.append(where)
    return found


def _signatures(package: Package, path: str, pages: list[Page],
                resources: list[Resources]) -> None:
    """Each signature's seal picture, drawn on top of the page its stamp is on."""
    by_id = {page.id: page for page in pages}
    entries = children(package.xml(path), "Signature")
    if len(entries) > MAX_SIGNATURES:
        raise too_complex(f"the document has {len(entries)} signatures",
                          f"文档有 {len(entries)} 个签章")
    stamped = 0
    for n, entry in enumerate(entries):
        sig_path = package.locate(folder(path), entry.get("BaseLoc", ""), "Signature BaseLoc")
        sig = package.xml(sig_path)
        stamps = children(child(sig, "SignedInfo"), "StampAnnot")
        value = text(sig, "SignedValue")
        if not stamps or not value:
            continue
        der = package.read(package.locate(folder(sig_path), value, "SignedValue"))
        picture = seal_picture(der)
        seal = _seal(picture, f"s{n}:", resources) if picture is not None else None
        for stamp in stamps if seal is not None else ():
            stamped += 1
            if stamped > MAX_STAMPS:
                raise too_complex(f"the document stamps more than {MAX_STAMPS} seals",
                                  f"文档的签章印章超过 {MAX_STAMPS} 个")
            page = by_id.get((stamp.get("PageRef") or "").strip())
            box = rect(stamp.get("Boundary"), "StampAnnot Boundary")
            if page is not None and box is not None:
                x, y, w, h = box
                items, width, height = seal
                place = then((w / width, 0.0, 0.0, h / height, 0.0, 0.0), move(x, y))
                page.items.extend(_moved(item, place) for item in items)


def _seal(picture: tuple[str, bytes], prefix: str,
          resources: list[Resources]) -> tuple[list[Item], float, float] | None:
    """A seal's items in a space of its own size (a picture fills a 1 × 1 square)."""
    kind, data = picture
    if kind != "ofd":
        media = Media(f"{prefix}seal", "", sniff(data, "the seal picture"), 0, data)
        resources[0].add_media(media)
        return [ImageItem(IDENTITY, None, media.key)], 1.0, 1.0
    try:
        inner = _load(Package(data), resources, prefix, seals=False)
    except OfdRefused as exc:
        # A seal that cannot be read is not drawn (its document is still the invoice);
        # one that points outside itself or is too large refuses the whole file.
        if exc.problem.code == "parse.ofd":
            return None
        raise
    page = inner.pages[0]
    return page.items, page.width, page.height


def _moved(item: Item, place: Matrix) -> Item:
    if isinstance(item, TextItem):
        return replace(item, matrix=then(item.matrix, place))
    clip = item.clip
    if clip is not None:
        clip = tuple(apply(place, px, py) for px, py in clip)
    return replace(item, matrix=then(item.matrix, place), clip=clip)


__all__ = ["IDENTITY", "Document", "ImageItem", "Item", "Page", "PathItem", "TextItem", "load"]
