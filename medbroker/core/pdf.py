"""PDF rendering with WeasyPrint, using the platform's own Korean font (Pretendard GOV from KRDS).

The font files are the ones ``make`` copies into the static files, so a PDF looks the same on a machine
without any Korean system font and nothing is fetched from outside.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string


def _font_dir() -> Path:
    return Path(settings.BASE_DIR) / "medbroker" / "static" / "vendor" / "krds" / "fonts"


def pdf_base_css() -> str:
    fonts = _font_dir()
    faces = "".join(
        f'@font-face {{ font-family: "Pretendard GOV"; font-weight: {weight}; '
        f'src: url("{(fonts / f"PretendardGOV-{name}.subset.woff").as_uri()}"); }}'
        for weight, name in ((400, "Regular"), (500, "Medium"), (700, "Bold"))
    )
    return (
        faces
        + '@page { size: A4; margin: 20mm 18mm; @bottom-center { content: counter(page) " / " counter(pages);'
        " font-size: 9pt; color: #666; } }"
        ' body { font-family: "Pretendard GOV", "Noto Sans CJK KR", sans-serif; font-size: 10.5pt; color: #111; }'
        " table { border-collapse: collapse; width: 100%; } th, td { border: 1px solid #999; padding: 4pt 6pt;"
        " text-align: left; vertical-align: top; } th { background: #eef2f7; } h1 { font-size: 18pt; }"
    )


def pdf_render(template_name: str, context: dict[str, object]) -> bytes:
    """Render a Django template to PDF bytes."""
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    # Without a FontConfiguration WeasyPrint ignores @font-face and falls back to a system font.
    fonts = FontConfiguration()
    html = render_to_string(template_name, context)
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf(
        stylesheets=[CSS(string=pdf_base_css(), font_config=fonts)], font_config=fonts
    )
