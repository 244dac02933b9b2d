from __future__ import annotations

import os

from medbroker.core.uploads import SizeLimitedUploadHandler


def _upload(handler: SizeLimitedUploadHandler, chunks: list[bytes]):
    handler.new_file("file", "big.pdf", "application/pdf", sum(map(len, chunks)))
    offset = 0
    for chunk in chunks:
        assert handler.receive_data_chunk(chunk, offset) is None
        offset += len(chunk)
    return handler.file_complete(offset)


def test_a_file_within_the_limit_is_kept_whole(settings):
    settings.MEDBROKER_UPLOAD_MAX_BYTES = 10

    uploaded = _upload(SizeLimitedUploadHandler(), [b"%PDF-", b"1.4\n"])

    assert uploaded.size == 9
    assert uploaded.read() == b"%PDF-1.4\n"


def test_past_the_limit_only_one_byte_more_is_written_and_the_true_size_is_reported(settings):
    settings.MEDBROKER_UPLOAD_MAX_BYTES = 10

    uploaded = _upload(SizeLimitedUploadHandler(), [b"a" * 8, b"b" * 8, b"c" * 1000])

    assert uploaded.size == 1016
    assert os.path.getsize(uploaded.temporary_file_path()) == 11
    assert uploaded.read() == b"a" * 8 + b"b" * 3


def test_under_a_path_with_its_own_limit_that_limit_applies(settings, rf):
    settings.MEDBROKER_UPLOAD_MAX_BYTES = 10
    settings.MEDBROKER_UPLOAD_LIMITS_BY_PATH = {"/models/": 30, "/models/small/": 4}

    large = _upload(SizeLimitedUploadHandler(rf.post("/models/7/")), [b"a" * 25])
    small = _upload(SizeLimitedUploadHandler(rf.post("/models/small/7/")), [b"a" * 25])
    elsewhere = _upload(SizeLimitedUploadHandler(rf.post("/calls/7/")), [b"a" * 25])

    assert (large.size, os.path.getsize(large.temporary_file_path())) == (25, 25)
    assert (small.size, os.path.getsize(small.temporary_file_path())) == (25, 5)
    assert (elsewhere.size, os.path.getsize(elsewhere.temporary_file_path())) == (25, 11)
