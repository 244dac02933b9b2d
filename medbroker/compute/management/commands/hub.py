"""``medbroker hub``: run the workspace hub (JupyterHub with configurable-http-proxy) beside the platform.

It registers the hub's OpenID Connect client (``hub_oauth_application_ensure``), starts ``jupyterhub -f
compute/hub/jupyterhub_config.py`` with the environment the platform derives (ports from
``MEDBROKER_HUB_URL`` and ``MEDBROKER_HUB_API_URL``), and, unless ``--reconcile-every 0``, runs the
workspace reconciler itself every ``--reconcile-every`` seconds: the embedded default has no Celery beat, and
a revoked grant must still stop its workspaces within a minute. It ends the hub (and so every workspace)
when it is interrupted.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from medbroker.compute.services.hub import (
    HUB_CONFIG,
    HubError,
    hub_oauth_application_ensure,
    hub_process_environment,
)
from medbroker.compute.services.workspaces import workspaces_reconcile


class Command(BaseCommand):
    help = "작업 공간 허브(JupyterHub)를 실행합니다."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--platform-url", default=settings.MEDBROKER_SITE_URL, help="허브가 부를 플랫폼 주소"
        )
        parser.add_argument(
            "--proxy-api-port", type=int, default=8082, help="configurable-http-proxy API 포트"
        )
        parser.add_argument(
            "--reconcile-every", type=int, default=30, help="작업 공간 점검 주기(초), 0이면 끔"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        hub_port = urlsplit(settings.MEDBROKER_HUB_API_URL).port
        if hub_port is None:
            raise CommandError("MEDBROKER_HUB_API_URL에 포트가 없습니다 (예: http://127.0.0.1:8081/hub/api).")
        hub_oauth_application_ensure()
        environment = hub_process_environment(
            platform_url=options["platform_url"], hub_port=hub_port, proxy_api_port=options["proxy_api_port"]
        )
        command = [sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG)]
        process = subprocess.Popen(command, env=environment, cwd=environment["MEDBROKER_HUB_STATE_DIR"])  # noqa: S603
        self.stdout.write(f"작업 공간 허브: {settings.MEDBROKER_HUB_URL} (플랫폼 {options['platform_url']})")

        def stop(*_: Any) -> None:
            process.terminate()

        signal.signal(signal.SIGTERM, stop)
        every = options["reconcile_every"]
        try:
            while process.poll() is None:
                time.sleep(every or 1)
                if every and process.poll() is None:
                    self._reconcile()
        except KeyboardInterrupt:
            pass
        finally:
            # Whatever ended this loop ends the hub too: a hub left running without its reconciler would keep
            # revoked workspaces open.
            process.terminate()
            try:
                # The hub stops its services (the idle culler takes its time), servers and proxy first.
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
        if process.returncode not in (0, -signal.SIGTERM, None):
            raise CommandError(f"JupyterHub가 {process.returncode} 상태로 끝났습니다.")

    def _reconcile(self) -> None:
        try:
            counts = workspaces_reconcile()
        except HubError as error:
            # The hub is still starting, or restarting: the next round tries again.
            self.stderr.write(f"작업 공간 점검 실패: {error.message}")
            return
        except Exception as error:
            self.stderr.write(f"작업 공간 점검 실패: {error.__class__.__name__}: {error}")
            return
        if any(counts.values()):
            self.stdout.write(f"작업 공간 점검: {counts}")
