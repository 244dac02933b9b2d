"""Excel export of workspaces: who worked on which data, with which GPU, when, and why it stopped."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import gettext as _
from openpyxl import Workbook

from medbroker.compute.models import Workspace
from medbroker.core.excel import DATETIME_FORMAT, kst_naive, sheet_write, workbook_bytes


def workspaces_xlsx(workspaces: Iterable[Workspace]) -> bytes:
    headers = [
        _("기업"),
        _("협약"),
        _("사용자"),
        _("허브 사용자"),
        _("이용 환경"),
        _("요청 주소"),
        _("상태"),
        _("GPU"),
        _("연결된 데이터"),
        _("요청 시각(KST)"),
        _("시작 시각(KST)"),
        _("중지 시각(KST)"),
        _("중지 사유 코드"),
        _("중지 사유"),
        _("중지한 사람"),
    ]
    rows = []
    for workspace in workspaces:
        gpu = workspace.gpu or {}
        rows.append(
            [
                workspace.agreement.company.name,
                workspace.agreement.number,
                workspace.user.username,
                workspace.hub_user,
                workspace.get_setting_display(),
                workspace.client_address or "",
                workspace.get_status_display(),
                f"{gpu.get('model', '')} {gpu.get('memory_gb', '')}GB · {gpu.get('node', '')}/gpu{gpu.get('index', '')}"
                if gpu
                else "",
                "\n".join(f"data/{record['name']} ({record['title']})" for record in workspace.datasets),
                kst_naive(workspace.requested_at),
                kst_naive(workspace.started_at),
                kst_naive(workspace.stopped_at),
                workspace.stop_reason,
                workspace.stop_message,
                workspace.stopped_by.username if workspace.stopped_by else "",
            ]
        )
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = _("작업 공간")
    sheet_write(sheet, headers, rows)
    for column in ("J", "K", "L"):
        for cell in sheet[column][1:]:
            cell.number_format = DATETIME_FORMAT
    return workbook_bytes(workbook)
