"""``medbroker bonus --call SLUG --evidence FILE.json``: the bonus breakdown of an evidence file, as JSON.

The same engine as the platform (``reviews.services.bonus``) under the call's rules, counting every piece
of evidence in the file (nobody has verified it). Exit 0 with the breakdown on stdout; exit 2 with one
line on stderr naming the file or field when the call is unknown or the file is malformed.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from medbroker.calls.models import Call
from medbroker.core.errors import DomainError
from medbroker.reviews.services.bonus import bonus_compute, evidence_from_file_data
from medbroker.reviews.services.evidence import bonus_rules_for_call, certification_list_for_call

USAGE_ERROR = 2


class Command(BaseCommand):
    help = "증빙 파일로 우대사항 점수를 계산해 JSON으로 출력합니다 (bonus breakdown of an evidence file)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--call", required=True, metavar="SLUG", help="the call whose rules apply")
        parser.add_argument(
            "--evidence",
            required=True,
            metavar="FILE.json",
            help="a JSON file of evidence: revenue, government_projects, certifications, intellectual_property",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call = Call.objects.filter(slug=options["call"]).first()
        if call is None:
            raise CommandError(f"unknown call: {options['call']}", returncode=USAGE_ERROR)
        path = Path(options["evidence"])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"{path}: cannot read the file ({error})", returncode=USAGE_ERROR) from error
        try:
            # Decimal, not float: revenue figures decide points by exact comparison.
            data = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as error:
            raise CommandError(
                f"{path}: not JSON (line {error.lineno}, column {error.colno}: {error.msg})",
                returncode=USAGE_ERROR,
            ) from error
        try:
            breakdown = bonus_compute(
                evidence_from_file_data(data),
                bonus_rules_for_call(call),
                certification_list=certification_list_for_call(call),
            )
        except DomainError as error:
            raise CommandError(f"{path}: {error}", returncode=USAGE_ERROR) from error
        self.stdout.write(json.dumps(breakdown.as_dict(), ensure_ascii=False, indent=2))
