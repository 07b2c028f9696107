"""One file field of a multipart form, read into memory and nowhere else.

Starlette's form parser spools a file over 1 MB to a temporary file on disk; a photo
someone searches the album with must leave no trace, so this reads the request stream
with python-multipart's parser straight into memory, refusing past a size limit
before it holds more."""

from __future__ import annotations

import io

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from ..domain import BadInput
from ..photo_search import TooLarge


class _Field:
    """The parser's callbacks: headers of the current part, its bytes if it is ours."""

    def __init__(self, field: str, limit: int):
        self.field, self.limit = field, limit
        self.data = io.BytesIO()
        self.header = self.value = b""
        self.name: str | None = None
        self.mine = self.found = False

    def on_header_field(self, b: bytes, start: int, end: int) -> None:
        self.header += b[start:end]

    def on_header_value(self, b: bytes, start: int, end: int) -> None:
        self.value += b[start:end]

    def on_header_end(self) -> None:
        if self.header.lower() == b"content-disposition":
            _, disposition = parse_options_header(self.value)
            self.name = disposition.get(b"name", b"").decode("utf-8", "replace")
        self.header = self.value = b""

    def on_headers_finished(self) -> None:
        self.mine = self.name == self.field and not self.found
        self.found = self.found or self.mine
        self.name = None

    def on_part_data(self, b: bytes, start: int, end: int) -> None:
        if self.mine:
            if self.data.tell() + (end - start) > self.limit:
                raise TooLarge(f"photo too large to search (limit {self.limit} bytes)")
            self.data.write(b[start:end])


async def read_file_field(request: Request, field: str, limit: int) -> bytes:
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise BadInput(f"send the photo as multipart/form-data, in a field named {field!r}")
    part = _Field(field, limit)
    callbacks = {
        name: getattr(part, name)
        for name in ("on_header_field", "on_header_value", "on_header_end",
                     "on_headers_finished", "on_part_data")
    }  # fmt: skip
    try:
        parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except (FormParserError, ValueError, UnicodeError) as exc:  # the client's malformed body
        raise BadInput(f"malformed multipart/form-data body: {exc}") from None
    if not part.found:
        raise BadInput(f"no field named {field!r} in the form")
    return part.data.getvalue()
