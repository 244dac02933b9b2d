"""An upload handler that never writes more than the upload limit to disk.

Django streams an uploaded file to a temporary file before any view sees it, so without this a 10 GB
"application form" would fill the disk before it is refused. Past the limit the rest of the file is read
and dropped; the file still reports its true size, so the service that checks it refuses it with the
usual clear message ("파일이 너무 큽니다").
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler


class SizeLimitedUploadHandler(TemporaryFileUploadHandler):
    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0
        # One byte more than allowed is kept, so the stored part alone already shows the file is too big.
        self.keep = int(settings.MEDBROKER_UPLOAD_MAX_BYTES) + 1

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
