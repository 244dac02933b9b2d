"""A throw-away Orthanc PACS with the DICOMweb plugin, for tests of the DICOMweb import.

Each server lives in its own temporary folder (configuration, database, storage, log), listens on a free
loopback port only, and has no DICOM listener: nothing outside the test process can reach it.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

ORTHANC_BINARY = "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
DICOMWEB_ROOT = "/dicom-web/"
START_TIMEOUT_S = 30.0


def orthanc_missing_reason() -> str | None:
    """Why an Orthanc server cannot be started here, or None when it can."""
    binary = shutil.which("Orthanc") or (ORTHANC_BINARY if Path(ORTHANC_BINARY).is_file() else None)
    if binary is None:
        return "Orthanc is not installed (Debian packages orthanc and orthanc-dicomweb)"
    if not Path(DICOMWEB_PLUGIN).is_file():
        return f"the Orthanc DICOMweb plugin is missing ({DICOMWEB_PLUGIN}, Debian package orthanc-dicomweb)"
    return None


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OrthancStartError(RuntimeError):
    pass


class OrthancServer:
    """Start Orthanc on entry, stop it and remove its folder on exit.

    ``url`` is the server's REST root, ``dicomweb_url`` the DICOMweb root the import reads.
    """

    def __init__(self, *, binary: str | None = None, plugin: str = DICOMWEB_PLUGIN) -> None:
        self.binary = binary or shutil.which("Orthanc") or ORTHANC_BINARY
        self.plugin = plugin
        self.port = 0
        self.folder: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.session = requests.Session()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb_url(self) -> str:
        return self.url + DICOMWEB_ROOT.rstrip("/")

    def config(self) -> dict[str, Any]:
        assert self.folder is not None
        return {
            "Name": "medbroker-test",
            "HttpPort": self.port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomServerEnabled": False,
            "StorageDirectory": str(self.folder / "storage"),
            "IndexDirectory": str(self.folder / "storage"),
            "HttpThreadsCount": 8,
            # No jobs survive the server, and none are left in the database to resume on a restart.
            "SaveJobs": False,
            "Plugins": [self.plugin],
            "DicomWeb": {
                "Enable": True,
                "Root": DICOMWEB_ROOT,
                "EnableWado": False,
                "Host": f"127.0.0.1:{self.port}",
                "Ssl": False,
                # WADO-RS metadata read from every stored file: the full header, private elements included.
                "StudiesMetadata": "Full",
                "SeriesMetadata": "Full",
            },
        }

    def __enter__(self) -> OrthancServer:
        self.folder = Path(tempfile.mkdtemp(prefix="medbroker-orthanc-"))
        failures: list[OrthancStartError] = []
        try:
            # The free port is found by binding port 0 and releasing it; another process could take it in
            # between, so a server that does not come up is tried again on a fresh port.
            while len(failures) < 3:
                self.port = _free_loopback_port()
                try:
                    self._start()
                    return self
                except OrthancStartError as error:
                    failures.append(error)
        except BaseException:
            self._stop()
            raise
        self._stop()
        raise failures[-1]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop()

    def _start(self) -> None:
        assert self.folder is not None
        config_path = self.folder / "config.json"
        config_path.write_text(json.dumps(self.config(), indent=2), encoding="utf-8")
        log = (self.folder / "orthanc.log").open("ab")
        try:
            self.process = subprocess.Popen(
                [self.binary, str(config_path)], stdout=log, stderr=subprocess.STDOUT, cwd=self.folder
            )
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if self.session.get(self.url + "/system", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self._terminate()
        raise OrthancStartError(f"Orthanc did not start on port {self.port}:\n{self.log_tail()}")

    def _terminate(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def _stop(self) -> None:
        self._terminate()
        self.session.close()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def log_tail(self, lines: int = 30) -> str:
        if self.folder is None or not (self.folder / "orthanc.log").is_file():
            return ""
        text = (self.folder / "orthanc.log").read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def upload(self, paths: Iterable[Path | str]) -> list[str]:
        """Store each DICOM file through the REST API; returns Orthanc's instance ids, in order."""
        ids = []
        for path in paths:
            response = self.session.post(self.url + "/instances", data=Path(path).read_bytes(), timeout=30)
            response.raise_for_status()
            answer = response.json()
            if answer.get("Status") not in ("Success", "AlreadyStored"):
                raise RuntimeError(f"Orthanc refused {path}: {answer}")
            ids.append(str(answer["ID"]))
        return ids

    def clear(self) -> None:
        """Delete every patient (and so every study, series and instance) the server holds."""
        response = self.session.get(self.url + "/patients", timeout=30)
        response.raise_for_status()
        for patient in response.json():
            self.session.delete(f"{self.url}/patients/{patient}", timeout=30).raise_for_status()

    def instances_count(self) -> int:
        response = self.session.get(self.url + "/statistics", timeout=30)
        response.raise_for_status()
        return int(response.json()["CountInstances"])
