"""Files uploaded into a session become messages: text, JSON and PDF are read and split into
chunks no longer than a message may be, at the most natural boundary available."""

from __future__ import annotations

import io
import json
import logging
from pathlib import PurePath

from parley.errors import InvalidInput, UnsupportedMedia

log = logging.getLogger("parley.uploads")

TEXT_SUFFIXES = {
    ".txt",
    ".md",
    ".markdown",
    ".csv",
    ".log",
    ".rst",
    ".html",
    ".xml",
    ".yaml",
    ".yml",
}
BOUNDARIES = ("\n\n", "\n", ". ", " ")


def extract_text(*, filename: str, content_type: str | None, data: bytes) -> str:
    """The text of an uploaded file, as Honcho 2.5.1 makes it: a text file as it is (an empty
    one gives empty text, which becomes one empty message), JSON re-serialised on one line, a
    PDF's pages as "[Page N]" blocks. Unlike Honcho, undecodable text and malformed JSON or PDF
    are a 422 here, not mojibake or a 500."""
    kind = _kind(filename, (content_type or "").split(";")[0].strip().lower())
    if kind == "pdf":
        return _storable(_pdf_text(data))
    if kind == "json":
        return _compact_json(filename, _decode(data))
    return _decode(data)


def split_text(text: str, max_chars: int) -> list[str]:
    """Chunks of at most `max_chars`, cut after a paragraph, line, sentence or word if one falls
    in the second half of the window; otherwise cut hard. Joining the chunks gives `text` back."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, not {max_chars}")
    chunks: list[str] = []
    start = 0
    while len(text) - start > max_chars:
        window = text[start : start + max_chars]
        cut = max_chars
        for boundary in BOUNDARIES:
            at = window.rfind(boundary)
            if at >= max_chars // 2:
                cut = at + len(boundary)
                break
        chunks.append(text[start : start + cut])
        start += cut
    if start < len(text):
        chunks.append(text[start:])
    return chunks


def _kind(filename: str, content_type: str) -> str:
    """The content type decides, as in Honcho (`text/*` is text, JSON only when it says
    application/json); the file name's suffix only when the type says nothing we read."""
    if content_type == "application/pdf":
        return "pdf"
    if content_type.startswith("text/"):
        return "text"
    if content_type == "application/json":
        return "json"
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".pdf":
        return "pdf"
    if suffix == ".json":
        return "json"
    if suffix in TEXT_SUFFIXES:
        return "text"
    raise UnsupportedMedia(
        f"cannot read {filename} ({content_type or 'no content type'}): "
        "upload text (.txt, .md, ...), JSON or PDF"
    )


def _compact_json(filename: str, source: str) -> str:
    """Honcho's form: `json.dumps` defaults (", " and ": "), non-ASCII characters kept."""
    try:
        parsed = json.loads(source)
    except json.JSONDecodeError as err:
        raise InvalidInput(f"{filename} is not valid JSON: {err.msg} at line {err.lineno}") from err
    except RecursionError as err:
        raise InvalidInput(f"{filename} is not valid JSON: it is nested too deeply") from err
    try:
        text = json.dumps(parsed, ensure_ascii=False)
    except RecursionError as err:
        raise InvalidInput(f"{filename} is not valid JSON: it is nested too deeply") from err
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate escape (valid JSON, e.g. "\ud800") cannot be stored as text; keep
        # non-ASCII characters escaped instead, which still reads back as the same value.
        text = json.dumps(parsed, ensure_ascii=True)
    return text


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InvalidInput("the file is not UTF-8 text") from err
    if "\x00" in text:
        # PostgreSQL cannot store NUL in text, and a text file with NUL bytes is binary.
        raise InvalidInput("the file contains NUL bytes: it is not a text file")
    return text


def _storable(text: str) -> str:
    """Text extracted from a PDF without what no database text column takes: NUL characters
    and unpaired surrogates (replaced by U+FFFD; split pairs are joined)."""
    text = text.replace("\x00", "")
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _pdf_text(data: bytes) -> str:
    """pdfplumber's text of each page that has any, as "[Page N]\n<text>" (N counts every
    page), the blocks joined by a blank line: what Honcho stores."""
    import pdfplumber

    blocks: list[str] = []
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            for number, page in enumerate(pdf.pages, start=1):
                text = page.extract_text()
                if text and text.strip():
                    blocks.append(f"[Page {number}]\n{text}")
    except Exception as err:  # noqa: BLE001 - any failure of the parser on untrusted bytes
        log.info("unreadable PDF upload: %r", err)
        raise InvalidInput(f"the PDF could not be read: {err}") from err
    return "\n\n".join(blocks)
