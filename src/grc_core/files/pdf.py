"""PDF files parsed with pypdf: well-formed, and without active content unless allowed.

A file is a PDF when pypdf finds its cross-reference data, a trailer whose ``/Root`` is a
catalog, and a page tree with at least one page — a file holding only ``%PDF-`` is not.
The document is then walked from its catalog the way a reader would walk it (document
actions, name trees, the form, every page and its annotations, the outline), looking for
what a reader would run or open:

- JavaScript (``/JS``, the ``/JavaScript`` name tree), ``/Launch`` and the other actions
  that reach outside the document (``ImportData``, ``GoToE``, ``RichMediaExecute``…);
- ``/OpenAction`` unless it only opens a page (a destination or a ``GoTo``), and every
  additional-action dictionary (``/AA``);
- embedded files (``/EmbeddedFiles``, file attachment annotations), ``RichMedia``, ``Screen``,
  ``Movie``, ``Sound`` and 3D annotations, XFA forms.

pypdf reads objects lazily from the spooled file, so only the structure (not the page
contents, nor the images) is held in memory.
"""

from __future__ import annotations

import io
import logging
from typing import Any, BinaryIO

from grc_core.errors import AttachmentRefused
from grc_core.files.rules import refusal

#: Actions that run code or reach outside the document.
DANGEROUS_ACTIONS = frozenset(
    {
        "/JavaScript",
        "/Launch",
        "/ImportData",
        "/GoToE",
        "/GoToR",
        "/RichMediaExecute",
        "/Rendition",
        "/SubmitForm",
        "/Movie",
        "/Sound",
    }
)
ACTIVE_ANNOTATIONS = frozenset(
    {"/RichMedia", "/Screen", "/Movie", "/Sound", "/3D", "/FileAttachment"}
)
#: Objects visited at most, so that a hostile structure cannot keep the check busy.
MAX_VISITS = 200_000


class _Found(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


#: Bytes that may follow the final ``%%EOF``: line ends, blanks, NULs and comment marks.
_TRAILING_ALLOWED = b"\r\n\t \x00\x0c%"
_BLOCK = 1024 * 1024


def pdf_end(file: BinaryIO) -> int:
    """The offset just after the file's last ``%%EOF`` marker.

    Read backwards a block at a time (memory stays small whatever follows the marker).  Only
    blanks and comment marks may follow it: anything else is another file appended to the
    PDF — a polyglot.

    :raises AttachmentRefused: rule ``pdf_structure``.
    """
    size = file.seek(0, 2)
    end = size
    while end > 0:
        start = max(0, end - _BLOCK)
        file.seek(start)
        block = file.read(end - start)
        kept = block.rstrip(_TRAILING_ALLOWED)
        if not kept:
            end = start
            continue
        last = start + len(kept)  # just after the last byte that is not blank or '%'
        file.seek(max(0, last - 5))
        if file.read(last - max(0, last - 5)) != b"%%EOF":
            marker = block.rfind(b"%%EOF")
            if marker < 0:
                raise refusal("pdf_structure", "the file does not end with a PDF's %%EOF marker")
            raise refusal(
                "pdf_structure",
                f"{size - (start + marker + 5):,} bytes that are not PDF follow its %%EOF "
                "marker (a file appended to the document)",
            )
        return last
    raise refusal("pdf_structure", "the file has no end-of-file marker (%%EOF)")


class _Bounded(io.RawIOBase):
    """A read-only view of the first ``size`` bytes of a seekable file."""

    def __init__(self, file: BinaryIO, size: int) -> None:
        self._file, self._size, self._pos = file, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, min(self._size, base + offset))
        return self._pos

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self._size - self._pos)
        if wanted <= 0:
            return 0
        self._file.seek(self._pos)
        data = self._file.read(wanted)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def check_pdf(file: BinaryIO, *, allow_active: bool) -> None:
    """Refuse a PDF that does not parse, or holds active content the policy refuses.

    :raises AttachmentRefused: rule ``pdf_structure`` or ``pdf_active_content``.
    """
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # hostile files warn a lot
    try:
        view = io.BufferedReader(_Bounded(file, pdf_end(file)), buffer_size=64 * 1024)
        reader = PdfReader(view, strict=False)
        if reader.is_encrypted and not _decrypted(reader):
            raise refusal(
                "pdf_structure", "the PDF is encrypted with a password; it cannot be inspected"
            )
        catalog: Any = reader.trailer["/Root"].get_object()
        if catalog.get("/Type") != "/Catalog":
            raise refusal("pdf_structure", "the PDF's trailer does not point to a catalog")
        pages = len(reader.pages)
        if pages < 1:
            raise refusal("pdf_structure", "the PDF has no page")
        if not allow_active:
            _Walker().document(catalog, reader)
    except AttachmentRefused:
        raise
    except _Found as found:
        raise refusal(
            "pdf_active_content",
            f"the PDF holds {found.what}; active PDFs are refused unless the policy allows them",
        ) from None
    except RecursionError:
        raise refusal("pdf_structure", "the PDF's structure is nested too deeply") from None
    except Exception as exc:  # pypdf raises many kinds on damaged files
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise refusal("pdf_structure", f"the file is not a well-formed PDF ({detail})") from None


def _decrypted(reader: Any) -> bool:
    # Encrypted with an empty user password (permissions only): readable by anyone, so it
    # can be inspected too.
    try:
        return bool(reader.decrypt(""))
    except Exception:
        return False


class _Walker:
    """Walks the objects a reader would use, looking for active content."""

    def __init__(self) -> None:
        self.seen: set[tuple[int, int]] = set()
        self.visits = 0

    def _resolve(self, value: Any) -> Any:
        from pypdf.generic import IndirectObject

        if isinstance(value, IndirectObject):
            key = (value.idnum, value.generation)
            if key in self.seen:
                return None
            self.seen.add(key)
            value = value.get_object()
        self.visits += 1
        if self.visits > MAX_VISITS:
            raise _Found("more objects than can be inspected")
        return value

    def document(self, catalog: Any, reader: Any) -> None:
        open_action = catalog.get("/OpenAction")
        if open_action is not None:
            self.open_action(open_action)
        if "/AA" in catalog:
            raise _Found("document additional actions (/AA)")
        names = self._resolve(catalog.get("/Names"))
        if names is not None:
            if "/JavaScript" in names:
                raise _Found("document JavaScript (/Names /JavaScript)")
            if "/EmbeddedFiles" in names:
                raise _Found("embedded files (/EmbeddedFiles)")
        form = self._resolve(catalog.get("/AcroForm"))
        if form is not None and "/XFA" in form:
            raise _Found("an XFA form")
        for page in reader.pages:
            if "/AA" in page:
                raise _Found("page additional actions (/AA)")
            annotations = self._resolve(page.get("/Annots"))
            for item in annotations or ():
                self.annotation(self._resolve(item))
        outlines = self._resolve(catalog.get("/Outlines"))
        if outlines is not None:
            self.outline(outlines.get("/First"))

    def open_action(self, value: Any) -> None:
        action = value.get_object()
        if isinstance(action, list):
            return  # a destination: opens a page
        if action.get("/S") != "/GoTo" or "/Next" in action:
            raise _Found(f"an /OpenAction that runs {action.get('/S', 'an action')}")

    def annotation(self, annotation: Any) -> None:
        if not hasattr(annotation, "get"):
            return
        subtype = annotation.get("/Subtype")
        if subtype in ACTIVE_ANNOTATIONS:
            raise _Found(f"a {subtype} annotation")
        if "/AA" in annotation:
            raise _Found("annotation additional actions (/AA)")
        self.action(annotation.get("/A"))

    def action(self, value: Any) -> None:
        while value is not None:
            action = self._resolve(value)
            if isinstance(action, list):  # /Next may be an array of actions
                for item in action:
                    self.action(item)
                return
            if action is None or not hasattr(action, "get"):
                return
            kind = action.get("/S")
            if kind in DANGEROUS_ACTIONS or "/JS" in action:
                raise _Found(f"a {kind or '/JS'} action")
            value = action.get("/Next")

    def outline(self, value: Any) -> None:
        while value is not None:
            item = self._resolve(value)
            if item is None or not hasattr(item, "get"):
                return
            self.action(item.get("/A"))
            if "/First" in item:
                self.outline(item.get("/First"))
            value = item.get("/Next")
