"""``medbroker catalog_reindex``: rebuild every dataset's search document.

Needed after an organisation is renamed outside the catalogue (accounts admin): the institution's name is
part of each of its datasets' search text, and the accounts app does not call into the catalogue.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from medbroker.catalog.services import datasets_search_document_refresh


class Command(BaseCommand):
    help = "모든 데이터셋의 검색 문서를 다시 만듭니다."

    def handle(self, *args: Any, **options: Any) -> None:
        count = datasets_search_document_refresh()
        self.stdout.write(self.style.SUCCESS(f"데이터셋 {count}건의 검색 문서를 다시 만들었습니다."))
