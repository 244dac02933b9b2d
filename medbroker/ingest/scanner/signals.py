"""Reading the headers of EDF / EDF+ / BDF / BDF+ files and WFDB records into ``FileRecord``s.

EDF's header is a fixed 256 bytes plus 256 per signal, in ASCII: it is read directly, which reads only
those bytes (pyedflib opens the whole file and, for EDF+, reads every annotation record first). The tests
hold the values equal to pyedflib's. WFDB headers (``.hea``) are small text files read with the wfdb
package's ``rdheader``, which never touches the signal files.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from pathlib import Path

from medbroker.ingest.scanner.deid import text_findings
from medbroker.ingest.scanner.headers import age_from_dates
from medbroker.ingest.scanner.records import FileKind, FileRecord

EDF_FIXED_HEADER = 256
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1
    )
}


class SignalReadError(Exception):
    """A signal file that cannot be read; the message is the readable reason."""


def _edf_date(text: str) -> str:
    """An EDF+ "02-MAR-2002" as YYYYMMDD, or ""."""
    match = re.fullmatch(r"(\d{2})-([A-Za-z]{3})-(\d{4})", text)
    if not match:
        return ""
    day, month, year = int(match[1]), _MONTHS.get(match[2].upper()), int(match[3])
    if month is None:
        return ""
    try:
        return dt.date(year, month, day).strftime("%Y%m%d")
    except ValueError:
        return ""


def _edf_start_date(text: str) -> str:
    """The header's "dd.mm.yy" start date as YYYYMMDD; years 85–99 are 1985–1999 (EDF specification)."""
    match = re.fullmatch(r"(\d{2})\.(\d{2})\.(\d{2})", text.strip())
    if not match:
        return ""
    day, month, year = int(match[1]), int(match[2]), int(match[3])
    year += 1900 if year >= 85 else 2000
    try:
        return dt.date(year, month, day).strftime("%Y%m%d")
    except ValueError:
        return ""


def edf_record_read(read_more: Callable[[int], bytes], head: bytes, record: FileRecord) -> FileRecord:
    """Fill ``record`` from the EDF/BDF header whose first bytes are ``head`` (more with ``read_more(n)``)."""
    record.kind = FileKind.EDF
    if len(head) < EDF_FIXED_HEADER:
        raise SignalReadError("EDF 헤더가 256바이트보다 짧습니다(잘린 파일).")
    bdf = head[0] == 0xFF and head[1:8] == b"BIOSEMI"
    if not bdf and head[:8].strip() != b"0":
        raise SignalReadError("EDF/BDF 파일이 아닙니다: 버전 필드가 '0'이 아닙니다.")
    try:
        fixed = head[8:EDF_FIXED_HEADER].decode("ascii")
    except UnicodeDecodeError as error:
        raise SignalReadError("EDF 헤더에 ASCII가 아닌 문자가 있습니다.") from error
    patient, recording = fixed[0:80].strip(), fixed[80:160].strip()
    start_date, reserved = fixed[160:168], fixed[184:228].strip()
    try:
        header_bytes = int(fixed[176:184])
        n_records = int(fixed[228:236])
        record_seconds = float(fixed[236:244])
        n_signals = int(fixed[244:248])
    except ValueError as error:
        raise SignalReadError("EDF 헤더의 숫자 필드를 읽을 수 없습니다.") from error
    if not math.isfinite(record_seconds) or record_seconds < 0:
        raise SignalReadError("EDF 헤더의 데이터 레코드 길이(초)가 올바른 수가 아닙니다.")
    if n_signals <= 0 or header_bytes != EDF_FIXED_HEADER * (n_signals + 1):
        raise SignalReadError("EDF 헤더의 신호 수와 헤더 크기가 맞지 않습니다.")
    signal_header = head[EDF_FIXED_HEADER:header_bytes]
    if len(signal_header) < header_bytes - EDF_FIXED_HEADER:
        signal_header += read_more(header_bytes - EDF_FIXED_HEADER - len(signal_header))
    if len(signal_header) < header_bytes - EDF_FIXED_HEADER:
        raise SignalReadError("EDF 신호 헤더가 잘렸습니다.")
    text = signal_header.decode("ascii", "replace")

    def column(offset: int, width: int) -> list[str]:
        return [text[offset + i * width : offset + (i + 1) * width].strip() for i in range(n_signals)]

    labels = column(0, 16)
    base = n_signals * (16 + 80 + 8 + 8 + 8 + 8 + 8 + 80)
    try:
        samples = [int(value) for value in column(base, 8)]
    except ValueError as error:
        raise SignalReadError("EDF 신호 헤더의 샘플 수를 읽을 수 없습니다.") from error
    sample_bytes = 3 if bdf else 2
    record_bytes = sum(samples) * sample_bytes
    if n_records < 0 and record_bytes:
        n_records = (record.size - header_bytes) // record_bytes
    if record.size < header_bytes + n_records * record_bytes:
        raise SignalReadError("EDF 파일이 헤더에 적힌 길이보다 짧습니다(잘린 파일).")
    annotation_label = "BDF Annotations" if bdf else "EDF Annotations"
    data = [i for i, label in enumerate(labels) if label != annotation_label]
    plus = reserved.startswith(("EDF+", "BDF+"))
    record.format = ("BDF" if bdf else "EDF") + ("+" if plus else "")
    record.channels = len(data)
    rates = [samples[i] / record_seconds for i in data if record_seconds > 0]
    record.sampling_hz = max(rates) if rates else None
    record.duration_s = round(n_records * record_seconds, 3)
    record.date = _edf_start_date(start_date)
    identifying: list[str] = []
    if plus:
        parts = patient.split(" ")
        code = parts[0] if parts else "X"
        sex = parts[1] if len(parts) > 1 else "X"
        birth = parts[2] if len(parts) > 2 else "X"
        name = parts[3] if len(parts) > 3 else "X"
        record.patient_id = "" if code in ("", "X") else code
        record.sex = sex if sex in ("M", "F") else ""
        birth_date = _edf_date(birth)
        if name not in ("", "X"):
            identifying.append("edf.patient_name")
        if birth not in ("", "X"):
            identifying.append("edf.patient_birthdate")
        if len(parts) > 4 and any(part not in ("", "X") for part in parts[4:]):
            identifying.append("edf.patient_additional")
        recording_parts = recording.split(" ")
        if len(recording_parts) > 1 and recording_parts[0] == "Startdate":
            record.date = _edf_date(recording_parts[1]) or record.date
        if len(recording_parts) > 2 and recording_parts[2] not in ("", "X"):
            identifying.append("edf.recording_admin")
        if len(recording_parts) > 3 and recording_parts[3] not in ("", "X"):
            identifying.append("edf.recording_technician")
        record.age_years = age_from_dates(birth_date, record.date) if birth_date else None
    elif patient not in ("", "X"):
        identifying.append("edf.patient")
    identifying.extend(text_findings(head[8:168]))
    record.identifying = tuple(dict.fromkeys(identifying))
    record.reader = "edf"
    return record


# WFDB comment keys a research record may carry (PhysioNet and PTB-XL conventions): anything else is
# free text that may identify.
WFDB_SAFE_COMMENT_KEYS = frozenset(
    {"age", "sex", "gender", "dx", "diagnosis", "diagnoses", "rx", "hx", "reason for admission", "comment"}
)
_COMMENT_KEY = re.compile(r"^\s*<?([A-Za-z][A-Za-z ]*?)>?\s*:\s*(.*)$")


def wfdb_record_read(path: str, record: FileRecord) -> FileRecord:
    """Fill ``record`` from the WFDB header at ``path`` (a ``.hea`` file)."""
    import wfdb

    record.kind = FileKind.WFDB
    record.format = "WFDB"
    try:
        header = wfdb.rdheader(str(Path(path).with_suffix("")))
    except FileNotFoundError:
        raise
    except Exception as error:  # wfdb raises many kinds on a malformed header; each is one readable error
        raise SignalReadError(
            f"WFDB 헤더를 해석할 수 없습니다: {type(error).__name__}: {error}"[:300]
        ) from error
    frequency = float(header.fs) if header.fs else None
    record.sampling_hz = frequency
    record.channels = int(header.n_sig or 0)
    length = header.sig_len
    record.duration_s = round(length / frequency, 3) if length and frequency else None
    if header.base_date:
        record.date = header.base_date.strftime("%Y%m%d")
    identifying: list[str] = []
    for line in header.comments or []:
        match = _COMMENT_KEY.match(line)
        if not match or match[1].strip().lower() not in WFDB_SAFE_COMMENT_KEYS:
            if line.strip():
                identifying.append("wfdb.comments")
            continue
        key, value = match[1].strip().lower(), match[2].strip()
        if key == "age" and value.isdigit():
            record.age_years = int(value)
        elif key in ("sex", "gender") and value[:1].upper() in ("M", "F"):
            record.sex = value[:1].upper()
    identifying.extend(text_findings("\n".join(header.comments or []).encode("utf-8", "replace")))
    record.identifying = tuple(dict.fromkeys(identifying))
    record.reader = "wfdb"
    return record
