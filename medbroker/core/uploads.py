"""An upload handler that never writes more than the upload limit to disk.

Django streams an uploaded file to a temporary file before any view sees it, so without this a 10 GB
"application form" would fill the disk before it is refused. Past the limit the rest of the file is read
and dropped; the file still reports its true size, so the service that checks it refuses it with the
usual clear message ("파일이 너무 큽니다").

The limit is ``MEDBROKER_UPLOAD_MAX_BYTES``, except under the path prefixes of
``MEDBROKER_UPLOAD_LIMITS_BY_PATH`` (the longest matching prefix wins): a model handed in for a performance
test is far larger than any document, and must arrive whole.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler


def upload_limit_for(path: str) -> int:
    """The most bytes an upload to ``path`` may have."""
    limits: dict[str, int] = getattr(settings, "MEDBROKER_UPLOAD_LIMITS_BY_PATH", {})
    matching = [prefix for prefix in limits if path.startswith(prefix)]
    if matching:
        return int(limits[max(matching, key=len)])
    return int(settings.MEDBROKER_UPLOAD_MAX_BYTES)


class SizeLimitedUploadHandler(TemporaryFileUploadHandler):
    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0
        # One byte more than allowed is kept, so the stored part alone already shows the file is too big.
        path = self.request.path if self.request is not None else ""
        self.keep = upload_limit_for(path) + 1

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        room = self.keep - self.received
        self.received += len(raw_data)
        if room > 0:
            self.file.write(raw_data[:room])
        return None

    def file_complete(self, file_size: int) -> UploadedFile | None:
        self.file.seek(0)
        self.file.size = self.received
        return self.file
