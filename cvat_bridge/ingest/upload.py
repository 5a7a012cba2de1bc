"""Receiving a multipart upload as a stream: the file part goes straight to disk, under a size limit.

The whole body is never held in memory, and an upload past the limit is stopped as soon as it passes it
(not after it has been stored).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.multipart import FormParserError, MultipartParser, parse_options_header

from cvat_bridge.errors import BadRequest, TooLarge
from cvat_bridge.limits import MAX_FIELD_BYTES, MAX_FORM_FIELDS


class UploadError(BadRequest):
    """The request is not a usable multipart upload (the message says why)."""


class UploadTooLarge(TooLarge, UploadError):
    """The uploaded file passes the size limit."""


@dataclass
class Upload:
    path: Path | None = None  # where the file part was written (None: the request had no file part)
    filename: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


async def receive_upload(
    content_type: str, chunks: AsyncIterator[bytes], destination: Path, *, file_field: str, max_bytes: int
) -> Upload:
    """Parse a multipart/form-data body: the part named ``file_field`` is written to ``destination``, the
    other parts become text fields. Raises ``UploadError`` / ``UploadTooLarge``."""
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in options:
        raise UploadError("send the upload as multipart/form-data")
    receiver = _Receiver(destination, file_field, max_bytes)
    parser = MultipartParser(options[b"boundary"], receiver.callbacks())
    try:
        async for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise UploadError(f"malformed multipart upload ({exc})") from None
    finally:
        receiver.close()
    return receiver.upload


class _Receiver:
    """The parser's callbacks: headers of each part, then its data to a file or a field buffer."""

    def __init__(self, destination: Path, file_field: str, max_bytes: int) -> None:
        self.destination, self.file_field, self.max_bytes = destination, file_field, max_bytes
        self.upload = Upload()
        self._header_name = self._header_value = b""
        self._disposition = b""
        self._name: str | None = None
        self._buffer = bytearray()
        self._file: IO[bytes] | None = None
        self._file_bytes = 0
        self._fields = 0  # parts other than the file

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_val,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _begin(self) -> None:
        self._disposition, self._name, self._buffer = b"", None, bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_val(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name != self.file_field:
            self._fields += 1
            if self._fields > MAX_FORM_FIELDS:
                raise UploadTooLarge(f"more than {MAX_FORM_FIELDS} form fields besides '{self.file_field}'")
        else:
            if self.upload.path is not None:
                raise UploadError(f"send one '{self.file_field}' part only")
            self.upload.path = self.destination
            self.upload.filename = options.get(b"filename", b"").decode("utf-8", "replace") or None
            self._file = open(self.destination, "wb")  # noqa: SIM115 - closed in _end or close()

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._file_bytes += end - start
            if self._file_bytes > self.max_bytes:
                raise UploadTooLarge(f"the upload is larger than the limit of {self.max_bytes} bytes")
            self._file.write(data[start:end])
        else:
            self._buffer += data[start:end]
            if len(self._buffer) > MAX_FIELD_BYTES:
                raise UploadTooLarge(f"form field '{self._name}' is longer than {MAX_FIELD_BYTES} bytes")

    def _end(self) -> None:
        if self._file is not None:
            self.close()
        elif self._name:
            self.upload.fields[self._name] = self._buffer.decode("utf-8", "replace")
