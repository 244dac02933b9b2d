from __future__ import annotations

import re
import zlib

from medbroker.core.pdf import pdf_render


def _font_names(pdf: bytes) -> set[bytes]:
    # Font dictionaries may sit in compressed object streams: look inside every stream too.
    chunks = [pdf]
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, flags=re.DOTALL):
        try:
            chunks.append(zlib.decompress(stream))
        except zlib.error:
            continue
    return {name for chunk in chunks for name in re.findall(rb"/BaseFont\s*/([A-Za-z0-9+\-]+)", chunk)}


def test_pdfs_embed_the_platforms_korean_font(tmp_path, settings):
    template_dir = tmp_path / "templates"
    template_dir.mkdir()
    (template_dir / "probe.html").write_text("<html><body><h1>접수증</h1><p>한국어 본문</p></body></html>")
    # Assigned whole, so Django notices the change and builds the template engine again.
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [template_dir]}]

    pdf = pdf_render("probe.html", {})

    assert pdf.startswith(b"%PDF-")
    fonts = _font_names(pdf)
    assert any(b"Pretendard-GOV" in name for name in fonts), fonts
