"""File uploads into a session (/v2/.../messages/upload): text, JSON and PDF become messages
as Honcho 2.5.1 makes them (src/utils/files.py), split at natural boundaries; every refusal
stores nothing. On both backends, and via the SDK."""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from parley.errors import InvalidInput, UnsupportedMedia
from parley.memory.messages import MAX_CONTENT_CHARS
from parley.memory.uploads import extract_text, split_text

WS, SESSION = "ws", "s1"
MESSAGES = f"/v2/workspaces/{WS}/sessions/{SESSION}/messages"
UPLOAD = f"{MESSAGES}/upload"


# --- helpers -------------------------------------------------------------------------------


def pdf_bytes(pages: list[list[str]], *, compress: bool = False) -> bytes:
    """A minimal valid PDF, written by hand: one Helvetica text line per entry, a correct xref
    table and startxref, so that a strict reader accepts it."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: (
            f"<< /Type /Pages /Kids [{' '.join(f'{i} 0 R' for i in page_ids)}] "
            f"/Count {len(pages)} >>"
        ).encode(),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    }
    for page_id, lines in zip(page_ids, pages, strict=True):
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
        for line in lines:
            ops += [f"({escape(line)}) Tj", "T*"]
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        extra = b""
        if compress:
            stream, extra = zlib.compress(stream), b" /Filter /FlateDecode"
        objects[page_id] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {page_id + 1} 0 R >>"
        ).encode()
        objects[page_id + 1] = (
            b"<< /Length " + str(len(stream)).encode() + extra + b" >>\nstream\n"
            b"" + stream + b"\nendstream"
        )
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += f"{number} 0 obj\n".encode() + objects[number] + b"\nendobj\n"
    xref_at = len(out)
    size = max(objects) + 1
    out += f"xref\n0 {size}\n".encode() + b"0000000000 65535 f \n"
    for number in range(1, size):
        out += f"{offsets[number]:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n".encode()
    return bytes(out)


def paragraphs(total: int) -> str:
    """Text of about `total` characters in sentences, lines and paragraphs."""
    parts: list[str] = []
    n = 0
    while sum(map(len, parts)) < total:
        n += 1
        sentence = f"Sentence {n} talks about the harbour, the tides and the gulls. "
        parts.append(sentence + ("\n\n" if n % 7 == 0 else "\n" if n % 3 == 0 else ""))
    return "".join(parts)[:total]


def upload(
    client: TestClient,
    filename: str,
    data: bytes,
    content_type: str = "text/plain",
    *,
    url: str = UPLOAD,
    peer_id: str = "alice",
    **form: str,
) -> Any:
    fields = {"peer_id": peer_id} | form
    return client.post(url, files={"file": (filename, data, content_type)}, data=fields)


def stored(client: TestClient, url: str = MESSAGES) -> list[dict[str, Any]] | None:
    """Every message of the session in order; None when the session does not exist."""
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        r = client.post(f"{url}/list", params={"page": page, "size": 100})
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["items"]
        if page >= body["pages"]:
            return items
        page += 1


@pytest.fixture
def session(client: TestClient) -> Iterator[TestClient]:
    """Workspace `ws` with session `s1`, which holds one message already."""
    assert client.post("/v2/workspaces", json={"id": WS}).status_code == 200
    r = client.post(f"{MESSAGES}/", json={"messages": [{"content": "hello", "peer_id": "bob"}]})
    assert r.status_code == 200, r.text
    yield client


def assert_refused(
    client: TestClient, r: Any, status: int, before: list[dict[str, Any]] | None, *words: str
) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert "detail" in body and body["detail"], body
    if words:
        text = json.dumps(body["detail"]).lower()
        assert all(word.lower() in text for word in words), body
    assert stored(client) == before


# --- text ----------------------------------------------------------------------------------


def test_text_file_becomes_one_message_with_the_exact_content(session: TestClient) -> None:
    text = "Dear diary,\n\ntoday I saw a whale. 🐋  Ünïcödé, tabs\tand trailing spaces  \n"
    r = upload(session, "diary.txt", text.encode())
    assert r.status_code == 200, r.text
    [message] = r.json()
    assert message["content"] == text
    assert message["peer_id"] == "alice" and message["session_id"] == SESSION
    assert message["workspace_id"] == WS and message["metadata"] == {}
    assert message["token_count"] > 0
    assert [m["content"] for m in stored(session) or []] == ["hello", text]


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        ("notes.md", "text/markdown"),
        ("notes.csv", "text/csv"),
        ("notes.txt", "application/octet-stream"),  # the suffix decides
        ("no-suffix", "text/plain"),  # the content type decides
        ("notes.TXT", ""),
        ("notes.txt", "text/plain; charset=utf-8"),
    ],
)
def test_text_kinds(filename: str, content_type: str) -> None:
    """What kind a file is, and its text, is extract_text's alone (a pure function); the route
    is checked to read an upload with it over HTTP below, with the trickiest content types."""
    text = extract_text(filename=filename, content_type=content_type, data=b"a, b\n1, 2\n")
    assert split_text(text, MAX_CONTENT_CHARS) == ["a, b\n1, 2\n"]


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [("notes.TXT", ""), ("notes.txt", "text/plain; charset=utf-8")],
)
def test_text_kinds_over_http(session: TestClient, filename: str, content_type: str) -> None:
    r = upload(session, filename, b"a, b\n1, 2\n", content_type)
    assert r.status_code == 200, r.text
    assert [m["content"] for m in r.json()] == ["a, b\n1, 2\n"]


def test_utf8_byte_order_mark_is_dropped(session: TestClient) -> None:
    r = upload(session, "bom.txt", "\ufeffhello there".encode())
    assert r.status_code == 200, r.text
    assert r.json()[0]["content"] == "hello there"


def test_long_text_is_split_into_chunks_that_join_back_exactly(session: TestClient) -> None:
    text = paragraphs(60_000)
    r = upload(session, "long.txt", text.encode())
    assert r.status_code == 200, r.text
    chunks = [m["content"] for m in r.json()]
    assert len(chunks) == 3
    assert all(0 < len(c) <= MAX_CONTENT_CHARS for c in chunks)
    assert "".join(chunks) == text
    # Cut at natural boundaries: every chunk but the last ends a paragraph or a line.
    assert all(c.endswith("\n") for c in chunks[:-1])
    assert [m["content"] for m in (stored(session) or [])[1:]] == chunks


def test_long_text_without_any_boundary_is_cut_hard(session: TestClient) -> None:
    text = "x" * (2 * MAX_CONTENT_CHARS + 10)
    r = upload(session, "blob.txt", text.encode())
    assert r.status_code == 200, r.text
    assert [len(m["content"]) for m in r.json()] == [MAX_CONTENT_CHARS, MAX_CONTENT_CHARS, 10]


def test_text_of_exactly_the_maximum_is_one_message(session: TestClient) -> None:
    text = ("word " * MAX_CONTENT_CHARS)[:MAX_CONTENT_CHARS]
    r = upload(session, "max.txt", text.encode())
    assert r.status_code == 200, r.text
    assert [m["content"] for m in r.json()] == [text]


def test_metadata_and_created_at_apply_to_every_chunk(session: TestClient) -> None:
    text = paragraphs(55_000)
    meta = {"source": "upload", "tags": ["a", "b"], "n": 1}
    r = upload(
        session,
        "long.txt",
        text.encode(),
        metadata=json.dumps(meta),
        configuration=json.dumps({"deriver": {"enabled": False}}),
        created_at="2024-03-01T12:30:00+00:00",
    )
    assert r.status_code == 200, r.text
    made = r.json()
    assert len(made) == 3
    for message in made:
        assert message["metadata"] == meta
        assert datetime.fromisoformat(message["created_at"]) == datetime(
            2024, 3, 1, 12, 30, tzinfo=UTC
        )
    assert "".join(m["content"] for m in made) == text
    listed = (stored(session) or [])[1:]
    assert [m["id"] for m in listed] == [m["id"] for m in made]
    assert all(m["metadata"] == meta for m in listed)
    assert all(m["created_at"] == made[0]["created_at"] for m in listed)


def test_created_at_with_an_offset_is_kept_as_that_instant(session: TestClient) -> None:
    r = upload(session, "a.txt", b"hi", created_at="2024-03-01T14:30:00+02:00")
    assert r.status_code == 200, r.text
    when = datetime.fromisoformat(r.json()[0]["created_at"])
    assert when == datetime(2024, 3, 1, 12, 30, tzinfo=UTC)


def test_empty_optional_form_fields_are_ignored(session: TestClient) -> None:
    r = upload(session, "a.txt", b"hi", metadata="", configuration="", created_at="")
    assert r.status_code == 200, r.text
    assert r.json()[0]["metadata"] == {}


def test_upload_creates_the_session_and_the_peer(session: TestClient) -> None:
    url = f"/v2/workspaces/{WS}/sessions/fresh/messages"
    r = upload(session, "a.txt", b"first words", url=f"{url}/upload", peer_id="carol")
    assert r.status_code == 200, r.text
    assert [m["content"] for m in stored(session, url) or []] == ["first words"]
    peers = session.get(f"/v2/workspaces/{WS}/sessions/fresh/peers").json()
    assert [p["id"] for p in peers["items"]] == ["carol"]


# --- JSON ----------------------------------------------------------------------------------


def test_json_file_is_stored_on_one_line_as_honcho_writes_it(session: TestClient) -> None:
    raw = '{\n  "name":"Zoë",\n  "items":[1, 2.5,null ,true],  "nested":{"k":"v"}}'.encode()
    r = upload(session, "doc.json", raw, "application/json")
    assert r.status_code == 200, r.text
    [message] = r.json()
    # json.dumps(data, ensure_ascii=False): ", " and ": ", non-ASCII kept
    assert (
        message["content"] == '{"name": "Zoë", "items": [1, 2.5, null, true], "nested": {"k": "v"}}'
    )
    assert [m["content"] for m in (stored(session) or [])[1:]] == [message["content"]]


@pytest.mark.parametrize(
    ("filename", "content_type", "content"),
    [
        ("doc.json", "application/octet-stream", '{"a": 1}'),
        ("doc", "application/json", '{"a": 1}'),
        # text/* is text, whatever the name says, as in Honcho
        ("d", "text/json", '{"a":1}'),
        ("doc.json", "text/plain", '{"a":1}'),
    ],
)
def test_json_is_recognised_by_type_then_suffix(
    filename: str, content_type: str, content: str
) -> None:
    text = extract_text(filename=filename, content_type=content_type, data=b'{"a":1}')
    assert split_text(text, MAX_CONTENT_CHARS)[0] == content


def test_json_is_recognised_over_http(session: TestClient) -> None:
    r = upload(session, "doc.json", b'{"a":1}', "application/octet-stream")
    assert r.status_code == 200, r.text
    assert r.json()[0]["content"] == '{"a": 1}'


def test_json_with_escaped_control_and_surrogate_characters(session: TestClient) -> None:
    """Escapes that are valid JSON but that a database cannot store raw (NUL, a lone
    surrogate) must still produce a storable message that parses back to the same value."""
    raw = b'{"nul": "a\\u0000b", "pair": "\\ud83d\\ude00", "lone": "\\ud800x"}'
    r = upload(session, "doc.json", raw, "application/json")
    assert r.status_code == 200, r.text
    content = r.json()[0]["content"]
    assert json.loads(content) == json.loads(raw)
    assert [m["content"] for m in (stored(session) or [])[1:]] == [content]


def test_large_json_is_split_and_joins_back(session: TestClient) -> None:
    document = {"rows": [{"i": i, "text": f"row number {i} " * 3} for i in range(1500)]}
    r = upload(session, "big.json", json.dumps(document).encode(), "application/json")
    assert r.status_code == 200, r.text
    chunks = [m["content"] for m in r.json()]
    assert len(chunks) > 1 and all(len(c) <= MAX_CONTENT_CHARS for c in chunks)
    assert json.loads("".join(chunks)) == document


# --- PDF -----------------------------------------------------------------------------------


def test_hand_written_pdf_is_valid() -> None:
    from pypdf import PdfReader

    for compress in (False, True):
        data = pdf_bytes([["Hello harbour", "Gulls (and tides)"], ["Page two"]], compress=compress)
        reader = PdfReader(io.BytesIO(data), strict=True)
        assert len(reader.pages) == 2
        first = reader.pages[0].extract_text()
        assert "Hello harbour" in first and "Gulls (and tides)" in first
        assert "Page two" in reader.pages[1].extract_text()


@pytest.mark.parametrize("compress", [False, True])
def test_pdf_becomes_its_text(session: TestClient, compress: bool) -> None:
    data = pdf_bytes(
        [["The quick brown fox", "jumps over the lazy dog."], ["Second page here."]],
        compress=compress,
    )
    r = upload(session, "fox.pdf", data, "application/pdf", metadata='{"kind": "pdf"}')
    assert r.status_code == 200, r.text
    [message] = r.json()
    assert message["metadata"] == {"kind": "pdf"}
    # Honcho's form: "[Page N]" and the page's text, pages apart by a blank line.
    assert message["content"] == (
        "[Page 1]\nThe quick brown fox\njumps over the lazy dog.\n\n[Page 2]\nSecond page here."
    )


def minimal_pdf(stream: bytes) -> bytes:
    """The smallest PDF a reader accepts: one page whose content is `stream`, no resources."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 5\n0000000000 65535 f \n"
    out += b"".join(b"%010d 00000 n \n" % at for at in offsets)
    out += b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


HELLO_PDF = minimal_pdf(b"BT 72 720 Td /F1 24 Tf (Hello PDF) Tj ET")


def test_minimal_pdf_without_font_resources_gives_its_text(session: TestClient) -> None:
    """A text object whose font is not among the page's resources: pypdf reads no text from it,
    pdfplumber (Honcho's reader) reads "Hello PDF"."""
    from pypdf import PdfReader

    assert PdfReader(io.BytesIO(HELLO_PDF), strict=True).pages[0].extract_text() == ""
    r = upload(session, "hello.pdf", HELLO_PDF, "application/pdf")
    assert r.status_code == 200, r.text
    assert [m["content"] for m in r.json()] == ["[Page 1]\nHello PDF"]
    assert [m["content"] for m in (stored(session) or [])[1:]] == ["[Page 1]\nHello PDF"]


def test_pdf_pages_without_text_are_skipped_but_counted(session: TestClient) -> None:
    data = pdf_bytes([["first"], [], ["third"]])
    r = upload(session, "gap.pdf", data, "application/pdf")
    assert r.status_code == 200, r.text
    assert [m["content"] for m in r.json()] == ["[Page 1]\nfirst\n\n[Page 3]\nthird"]


def test_pdf_by_suffix_with_a_generic_type(session: TestClient) -> None:
    r = upload(session, "x.pdf", pdf_bytes([["Suffix wins"]]), "application/octet-stream")
    assert r.status_code == 200, r.text
    assert r.json()[0]["content"] == "[Page 1]\nSuffix wins"


def test_long_pdf_is_split(session: TestClient) -> None:
    lines = [f"Line {i} of a long report about harbours and tides." for i in range(600)]
    data = pdf_bytes([lines[i : i + 50] for i in range(0, 600, 50)], compress=True)
    r = upload(session, "report.pdf", data, "application/pdf")
    assert r.status_code == 200, r.text
    chunks = [m["content"] for m in r.json()]
    assert len(chunks) >= 2 and all(len(c) <= MAX_CONTENT_CHARS for c in chunks)
    joined = "".join(chunks)
    assert all(line in joined for line in lines)


# --- refusals: nothing is stored -----------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        ("photo.png", "image/png"),
        ("song.mp3", "audio/mpeg"),
        ("archive.zip", "application/zip"),
        ("blob", "application/octet-stream"),
        ("sheet.xlsx", ""),
    ],
)
def test_unsupported_type_is_415(filename: str, content_type: str) -> None:
    """Refusals of a file's content are extract_text's (a pure function); one of each status is
    checked over HTTP below, where it must store nothing."""
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    assert_extract_refused(filename, data, content_type, 415, "cannot read")


def test_unsupported_type_is_415_over_http(session: TestClient) -> None:
    before = stored(session)
    r = upload(session, "photo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "image/png")
    assert_refused(session, r, 415, before, "cannot read")


def assert_extract_refused(
    filename: str, data: bytes, content_type: str, status: int, *words: str
) -> None:
    """extract_text refuses the file with an error that answers `status`, whose detail names
    every one of `words` (as assert_refused checks the detail of the route's answer)."""
    with pytest.raises((InvalidInput, UnsupportedMedia)) as refused:
        extract_text(filename=filename, content_type=content_type, data=data)
    assert refused.value.status_code == status
    assert refused.value.detail
    text = json.dumps(refused.value.detail).lower()
    assert all(word.lower() in text for word in words), refused.value.detail


@pytest.mark.parametrize(
    ("filename", "data", "content_type", "words"),
    [
        ("bad.txt", b"caf\xe9 au lait", "text/plain", ("utf-8",)),
        ("bad.txt", "text".encode("utf-16"), "text/plain", ("utf-8",)),
        ("bad.json", b'{"a": 1,}', "application/json", ("json",)),
        ("bad.json", b"{'a': 1}", "application/json", ("json",)),
        ("bad.json", b"\xff\xfe{}", "application/json", ("utf-8",)),
        ("deep.json", b"[" * 100_000 + b"]" * 100_000, "application/json", ("json",)),
        ("empty.json", b"", "application/json", ()),
        ("broken.pdf", b"%PDF-1.4\nthis is not a pdf", "application/pdf", ("pdf",)),
        ("random.pdf", bytes(range(256)) * 4, "application/pdf", ("pdf",)),
        ("empty.pdf", b"", "application/pdf", ()),
    ],
)
def test_unreadable_files_are_422(
    filename: str, data: bytes, content_type: str, words: tuple[str, ...]
) -> None:
    assert_extract_refused(filename, data, content_type, 422, *words)


@pytest.mark.parametrize(
    ("filename", "data", "content_type", "words"),
    [
        ("bad.txt", b"caf\xe9 au lait", "text/plain", ("utf-8",)),
        ("broken.pdf", b"%PDF-1.4\nthis is not a pdf", "application/pdf", ("pdf",)),
    ],
)
def test_unreadable_files_are_422_over_http(
    session: TestClient, filename: str, data: bytes, content_type: str, words: tuple[str, ...]
) -> None:
    before = stored(session)
    r = upload(session, filename, data, content_type)
    assert_refused(session, r, 422, before, *words)


@pytest.mark.parametrize(
    ("filename", "data", "content_type", "content"),
    [
        ("empty.txt", b"", "text/plain", ""),
        ("blank.txt", b" \n\t\n  ", "text/plain", " \n\t\n  "),
        ("bom-only.txt", b"\xef\xbb\xbf", "text/plain", ""),
        ("blank.pdf", pdf_bytes([[]]), "application/pdf", ""),
    ],
)
def test_file_without_text_is_one_message_as_in_honcho(
    filename: str, data: bytes, content_type: str, content: str
) -> None:
    text = extract_text(filename=filename, content_type=content_type, data=data)
    assert text == content
    # the route stores text that splits into nothing as one empty message (checked below)
    assert (split_text(text, MAX_CONTENT_CHARS) or [""]) == [content]


@pytest.mark.parametrize(
    ("filename", "data", "content_type", "content"),
    [
        ("empty.txt", b"", "text/plain", ""),
        ("blank.pdf", pdf_bytes([[]]), "application/pdf", ""),
    ],
)
def test_file_without_text_is_one_message_over_http(
    session: TestClient, filename: str, data: bytes, content_type: str, content: str
) -> None:
    r = upload(session, filename, data, content_type)
    assert r.status_code == 200, r.text
    [message] = r.json()
    assert message["content"] == content
    assert [m["content"] for m in stored(session) or []] == ["hello", content]


def test_truncated_pdf_is_refused_cleanly(session: TestClient) -> None:
    data = pdf_bytes([["Hello"]])
    for cut in (10, len(data) // 3, len(data) // 2, len(data) - 30):
        before = stored(session)
        r = upload(session, "cut.pdf", data[:cut], "application/pdf")
        # A reader may recover the text from a damaged file; it must never be a 500.
        if r.status_code == 200:
            assert r.json()[0]["content"] == "[Page 1]\nHello"
        else:
            assert_refused(session, r, 422, before, "pdf")


@pytest.mark.parametrize(
    ("form", "words"),
    [
        ({"metadata": "[1, 2]"}, ("metadata",)),
        ({"metadata": '"text"'}, ("metadata",)),
        ({"metadata": '{"nul": "a\\u0000b"}'}, ("metadata",)),
        ({"configuration": '{"deriver": {"enabled": "perhaps"}}'}, ("configuration",)),
    ],
)
def test_bad_form_fields_are_422(
    session: TestClient, form: dict[str, str], words: tuple[str, ...]
) -> None:
    before = stored(session)
    r = upload(session, "a.txt", b"fine text", **form)
    assert_refused(session, r, 422, before, *words)


@pytest.mark.parametrize(
    "form",
    [
        {"metadata": "{not json"},
        {"metadata": "nope"},
        {"configuration": "{oops"},
        {"created_at": "yesterday"},
        {"created_at": "2024-13-45T00:00:00Z"},
        {"metadata": "{bad", "configuration": "{bad", "created_at": "bad"},
    ],
)
def test_form_fields_that_do_not_parse_are_ignored_as_in_honcho(
    session: TestClient, form: dict[str, str]
) -> None:
    """Honcho's parse_upload_form drops metadata or configuration that is not JSON, and a
    created_at that is not ISO 8601, and stores the file anyway."""
    before = datetime.now(UTC)
    r = upload(session, "a.txt", b"fine text", **form)
    assert r.status_code == 200, r.text
    [message] = r.json()
    assert message["content"] == "fine text" and message["metadata"] == {}
    assert datetime.fromisoformat(message["created_at"]) >= before.replace(microsecond=0)
    assert [m["content"] for m in stored(session) or []] == ["hello", "fine text"]


def test_created_at_without_a_zone_or_with_z_is_utc(session: TestClient) -> None:
    for value in ("2024-03-01T12:30:00", "2024-03-01T12:30:00Z", "2024-03-01 12:30"):
        r = upload(session, "a.txt", b"hi", created_at=value)
        assert r.status_code == 200, r.text
        when = datetime.fromisoformat(r.json()[0]["created_at"])
        assert when == datetime(2024, 3, 1, 12, 30, tzinfo=UTC), value


def test_bad_peer_id_and_missing_parts_are_422(session: TestClient) -> None:
    before = stored(session)
    assert_refused(session, upload(session, "a.txt", b"x", peer_id="has space"), 422, before)
    assert_refused(session, upload(session, "a.txt", b"x", peer_id=""), 422, before)
    r = session.post(UPLOAD, data={"peer_id": "alice"})
    assert_refused(session, r, 422, before, "file")
    r = session.post(UPLOAD, files={"file": ("a.txt", b"x", "text/plain")})
    assert_refused(session, r, 422, before, "peer_id")
    r = session.post(UPLOAD, json={"file": "x", "peer_id": "alice"})
    assert_refused(session, r, 422, before)


def test_refused_upload_does_not_create_the_session(session: TestClient) -> None:
    url = f"/v2/workspaces/{WS}/sessions/never/messages"
    statuses = [
        upload(session, "a.png", b"\x89PNG", "image/png", url=f"{url}/upload").status_code,
        upload(session, "a.txt", b"\xff\xfe", url=f"{url}/upload").status_code,
        upload(session, "a.txt", b"x", url=f"{url}/upload", metadata="[1]").status_code,
    ]
    assert statuses == [415, 422, 422]
    assert stored(session, url) == []  # an unknown session lists empty, as in Honcho
    sessions = session.post(f"/v2/workspaces/{WS}/sessions/list").json()
    assert [s["id"] for s in sessions["items"]] == [SESSION]


def test_unknown_workspace_is_treated_like_a_json_message_batch(client: TestClient) -> None:
    by_json = client.post(
        "/v2/workspaces/nope1/sessions/s/messages/",
        json={"messages": [{"content": "x", "peer_id": "alice"}]},
    )
    by_file = upload(client, "a.txt", b"x", url="/v2/workspaces/nope2/sessions/s/messages/upload")
    assert by_file.status_code == by_json.status_code, (by_json.text, by_file.text)


@pytest.mark.parametrize("settings_overrides", [{"max_upload_bytes": 2048}])
def test_file_over_max_upload_bytes_is_413(session: TestClient) -> None:
    before = stored(session)
    r = upload(session, "big.txt", b"a" * 2049)
    assert_refused(session, r, 413, before, "2048")
    ok = upload(session, "fits.txt", b"b" * 2048)
    assert ok.status_code == 200, ok.text
    assert ok.json()[0]["content"] == "b" * 2048


@pytest.mark.parametrize("settings_overrides", [{"max_body_bytes": 4096}])
def test_body_over_max_body_bytes_is_413(session: TestClient) -> None:
    before = stored(session)
    r = upload(session, "big.txt", b"a" * 5000)
    assert_refused(session, r, 413, before, "4096")
    assert set(r.json()) == {"detail"}

    # Without a Content-Length (chunked), the limit holds while the body is read.
    body, content_type = _multipart({"peer_id": "alice"}, ("big.txt", b"a" * 5000))

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 1000):
            yield body[i : i + 1000]

    r = session.post(UPLOAD, content=chunks(), headers={"content-type": content_type})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert_refused(session, r, 413, before, "4096")

    small = upload(session, "small.txt", b"c" * 1000)
    assert small.status_code == 200, small.text


def _multipart(fields: dict[str, str], file: tuple[str, bytes]) -> tuple[bytes, str]:
    boundary = "parley-test-boundary"
    out = bytearray()
    for name, value in fields.items():
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    out += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file[0]}"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    out += file[1] + f"\r\n--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def test_text_with_nul_bytes_is_422(session: TestClient) -> None:
    """A text file with NUL bytes is binary, and PostgreSQL text cannot hold NUL (was a 500)."""
    before = stored(session)
    r = upload(session, "nul.txt", b"before\x00after")
    assert_refused(session, r, 422, before, "NUL")


def test_pdf_text_with_a_nul_character_code_is_storable(session: TestClient) -> None:
    """pdfplumber shows a character code it has no text for as "(cid:N)", as Honcho stores it
    (a NUL it did return would be dropped: no database text column takes one)."""
    r = upload(session, "nul.pdf", pdf_bytes([["nul\x00here"]]), "application/pdf")
    assert r.status_code == 200, r.text
    assert r.json()[0]["content"] == "[Page 1]\nnul(cid:0)here"
    assert [m["content"] for m in (stored(session) or [])[1:]] == ["[Page 1]\nnul(cid:0)here"]


# --- through the Honcho SDK ----------------------------------------------------------------


def test_sdk_upload_file(honcho: Any, tmp_path: Any) -> None:
    session = honcho.session("uploads")
    text = paragraphs(30_000)
    made = session.upload_file(
        file=("notes.txt", text.encode(), "text/plain"),
        peer="alice",
        metadata={"via": "sdk"},
        created_at=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
    )
    assert len(made) == 2
    assert "".join(m.content for m in made) == text
    assert all(m.peer_id == "alice" and m.metadata == {"via": "sdk"} for m in made)
    assert all(m.created_at == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC) for m in made)

    path = tmp_path / "doc.json"
    path.write_text('{"b": [1, 2]}')
    with path.open("rb") as handle:
        [doc] = session.upload_file(file=handle, peer=honcho.peer("bob"))
    assert doc.content == '{"b": [1, 2]}' and doc.peer_id == "bob"

    [pdf] = session.upload_file(
        file=("fox.pdf", pdf_bytes([["PDF via the SDK"]]), "application/pdf"), peer="alice"
    )
    assert pdf.content == "[Page 1]\nPDF via the SDK"

    listed = [m.content for m in session.get_messages()]
    assert listed == [m.content for m in made] + [doc.content, pdf.content]


def test_sdk_upload_of_an_empty_file_and_a_font_less_pdf(honcho: Any) -> None:
    session = honcho.session("uploads")
    [empty] = session.upload_file(
        file=("empty.txt", b"", "text/plain"), peer="alice", metadata={"k": "v"}
    )
    assert empty.content == "" and empty.metadata == {"k": "v"}
    [hello] = session.upload_file(file=("hello.pdf", HELLO_PDF, "application/pdf"), peer="alice")
    assert hello.content == "[Page 1]\nHello PDF"
    assert [m.content for m in session.get_messages()] == ["", "[Page 1]\nHello PDF"]


def test_sdk_upload_refusals(honcho: Any) -> None:
    from honcho_core import APIStatusError, UnprocessableEntityError

    session = honcho.session("uploads")
    session.add_messages([honcho.peer("alice").message("kept")])
    with pytest.raises(APIStatusError) as err:
        session.upload_file(file=("a.png", b"\x89PNG", "image/png"), peer="alice")
    assert err.value.status_code == 415
    with pytest.raises(UnprocessableEntityError):
        session.upload_file(file=("a.txt", b"\xff\xfe\xfd", "text/plain"), peer="alice")
    assert [m.content for m in session.get_messages()] == ["kept"]


# --- split_text and extract_text on their own ----------------------------------------------


def test_split_text_short_and_exact() -> None:
    assert split_text("", 10) == []
    assert split_text("abc", 10) == ["abc"]
    assert split_text("a" * 10, 10) == ["a" * 10]
    assert split_text("a" * 11, 10) == ["a" * 10, "a"]
    assert split_text("a" * 20, 10) == ["a" * 10, "a" * 10]


def test_split_text_hard_cut_without_a_boundary() -> None:
    assert split_text("abcdefghijklmnopqrstuvwxy", 10) == ["abcdefghij", "klmnopqrst", "uvwxy"]
    # A boundary only in the first half of the window does not count: cut hard.
    assert split_text("ab cdefghijklm", 10) == ["ab cdefghi", "jklm"]


def test_split_text_prefers_paragraph_then_line_then_sentence_then_word() -> None:
    # Each text has a later boundary of a lesser kind; the greater kind wins.
    assert split_text("aaaaaaa\n\nb\nc d e", 14) == ["aaaaaaa\n\n", "b\nc d e"]
    assert split_text("aaaaaaa\nbb. c d eee", 14) == ["aaaaaaa\n", "bb. c d eee"]
    assert split_text("aaaaaaa. b c dddd", 14) == ["aaaaaaa. ", "b c dddd"]
    assert split_text("aaaaaa bb cc dddd", 14) == ["aaaaaa bb cc ", "dddd"]
    # A greater boundary in the first half of the window does not count.
    assert split_text("aaaaaa\n\nb\nc. d e", 14) == ["aaaaaa\n\nb\n", "c. d e"]


def test_split_text_boundary_positions_at_the_edges() -> None:
    # A boundary ending exactly at the window's end is used whole.
    assert split_text("aaaaaaaa. bbb", 10) == ["aaaaaaaa. ", "bbb"]
    # A boundary starting exactly at half the window counts...
    assert split_text("aaaaa bbbbbbbb", 10) == ["aaaaa ", "bbbbbbbb"]
    # ...one character earlier does not.
    assert split_text("aaaa bbbbbbbbb", 10) == ["aaaa bbbbb", "bbbb"]
    # A paragraph break straddling the window's end is not split into a line break cut
    # that leaves half of it behind: the single newline inside the window is used.
    assert split_text("aaaaaaaaa\n\nbb", 10) == ["aaaaaaaaa\n", "\nbb"]


def test_split_text_handles_astral_characters_and_crlf() -> None:
    text = "😀" * 25 + "\r\n" + "é" * 5
    chunks = split_text(text, 10)
    assert "".join(chunks) == text and all(len(c) <= 10 for c in chunks)


@given(
    text=st.text(alphabet=st.sampled_from(list("ab .\n") + ["😀", "é"]), max_size=400),
    max_chars=st.integers(min_value=1, max_value=60),
)
def test_split_text_properties(text: str, max_chars: int) -> None:
    chunks = split_text(text, max_chars)
    assert "".join(chunks) == text
    assert all(0 < len(c) <= max_chars for c in chunks)
    if len(text) <= max_chars:
        assert chunks == ([text] if text else [])
    # Every cut but the last leaves a chunk of at least half the window.
    assert all(len(c) >= max_chars // 2 for c in chunks[:-1])


def test_split_text_refuses_a_useless_window() -> None:
    with pytest.raises(ValueError):
        split_text("abc", 0)


def test_extract_text_json_edge_cases() -> None:
    lone = extract_text(filename="a.json", content_type=None, data=b'["\\ud800", "\xc3\xa9"]')
    lone.encode("utf-8")  # storable
    assert json.loads(lone) == ["\ud800", "é"]
    with pytest.raises(InvalidInput, match="nested too deeply"):
        extract_text(filename="a.json", content_type=None, data=b"[" * 50_000 + b"]" * 50_000)


def test_extract_text_kinds() -> None:
    assert extract_text(filename="a.txt", content_type=None, data=b"hi") == "hi"
    assert extract_text(filename="a.JSON", content_type=None, data=b"[1,2]") == "[1, 2]"
    with pytest.raises(UnsupportedMedia):
        extract_text(filename="a", content_type=None, data=b"hi")
    with pytest.raises(UnsupportedMedia):
        extract_text(filename="a.png", content_type="IMAGE/PNG", data=b"hi")
    assert extract_text(filename="a.txt", content_type="text/plain", data=b"\n\n") == "\n\n"
    assert extract_text(filename="a.txt", content_type="text/plain", data=b"") == ""
    with pytest.raises(InvalidInput):
        extract_text(filename="a.txt", content_type="text/plain", data=b"\xff")
