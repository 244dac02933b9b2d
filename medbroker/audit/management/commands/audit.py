"""``medbroker audit verify``: exit 0 when the hash chain is intact, 1 naming the first bad entry."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from medbroker.audit.services import audit_chain_verify, audit_head


class Command(BaseCommand):
    help = "감사 기록 해시 체인을 검증합니다 (verify the audit log's hash chain)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        verify = sub.add_parser("verify", help="verify the chain")
        verify.add_argument(
            "--expect-head",
            metavar="SEQ:HASH",
            help="also require that entry SEQ still exists with HASH (catches removal of the newest entries)",
        )
        sub.add_parser("head", help="print the newest entry's sequence and hash, to keep elsewhere")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["subcommand"] == "head":
            head = audit_head()
            self.stdout.write(f"{head.sequence}:{head.entry_hash}" if head else "0:" + "0" * 64)
            return
        problem = audit_chain_verify()
        if problem is not None:
            raise CommandError(
                f"audit chain broken at entry #{problem.sequence}: {problem.reason}", returncode=1
            )
        expected = options.get("expect_head")
        if expected:
            from medbroker.audit.models import AuditEvent

            seq_text, _, digest = expected.partition(":")
            if not AuditEvent.objects.filter(sequence=int(seq_text), entry_hash=digest).exists():
                raise CommandError(
                    f"audit chain broken at entry #{seq_text}: the expected head is missing", returncode=1
                )
        head = audit_head()
        count = head.sequence if head else 0
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {count} entries"))
