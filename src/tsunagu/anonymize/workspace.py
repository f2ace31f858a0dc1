"""Work areas of officials' runs, and the released files kept for publication.

An official uploads a table of personal data, runs the engine (as often as
needed to tune the configuration) and records a release from the last run.
The raw input only ever lives in the work area of the official who uploaded
it: it is deleted when the release is recorded, when the official discards
the work, or ``WORK_TTL`` after the upload, whichever comes first. The report
a release records is the one the server computed, never one a client sends,
so the figures in a 作成記録 are the engine's.

Layout under ``<var_dir>/anonymize/``: ``work/<id>/`` (``meta.json``,
``input.csv``, ``config.yaml``, ``output.csv``, ``report.json``) and
``releases/<release id>.csv`` (the released file, published from here).
"""

from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from tsunagu.anonymize import config, engine, errors
from tsunagu.core.clock import utcnow
from tsunagu.core.config import Settings
from tsunagu.core.errors import NotFoundError, TsunaguError

WORK_TTL = timedelta(hours=24)
LIMIT_MIB = 512
MAX_UPLOAD_BYTES = LIMIT_MIB * 2**20
CHUNK = 1 << 20
PARQUET_MAGIC = b"PAR1"
PREVIEW_ROWS = 500


class UploadTooLarge(TsunaguError):
    status_code = 413


class UnsupportedUpload(TsunaguError):
    status_code = 415


def _too_large(limit: int) -> UploadTooLarge:
    mib = max(1, limit // 2**20)
    return UploadTooLarge(
        "anonymize.too_large",
        f"ファイルが大きすぎます (上限 {mib} MiB)。大きなファイルは CLI で加工してください",
        f"the file is too large (limit {mib} MiB); anonymize large files with the CLI",
    )


def _unsupported(detail_ja: str, detail_en: str) -> UnsupportedUpload:
    return UnsupportedUpload(
        "anonymize.unsupported_file",
        f"このファイルは受け付けられません: {detail_ja}",
        f"this file is not accepted: {detail_en}",
    )


def _check_kind(suffix: str, head: bytes, allowed: tuple[str, ...]) -> None:
    """The name says CSV (or Parquet where allowed) and the first bytes agree."""
    if suffix not in allowed:
        names = " / ".join(allowed)
        raise _unsupported(f"{names} のみです", f"only {names} files are accepted")
    if suffix == ".parquet":
        if not head.startswith(PARQUET_MAGIC):
            raise _unsupported("Parquet 形式ではありません", "not a Parquet file")
        return
    if b"\x00" in head:
        raise _unsupported("テキストの CSV ではありません", "not a text CSV file")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the chunk's end
            raise _unsupported("CSV は UTF-8 で保存してください", "save the CSV as UTF-8") from None


@dataclass(frozen=True)
class Work:
    """One uploaded table and what has been run on it."""

    id: str
    folder: Path
    organization_id: str
    official_id: str
    filename: str
    created_at: datetime

    @property
    def input(self) -> Path:
        return self.folder / f"input{Path(self.filename).suffix.lower() or '.csv'}"

    @property
    def output(self) -> Path:
        return self.folder / "output.csv"

    @property
    def report_path(self) -> Path:
        return self.folder / "report.json"

    @property
    def config_path(self) -> Path:
        return self.folder / "config.yaml"

    def report(self) -> dict[str, Any] | None:
        if not self.report_path.is_file():
            return None
        loaded: dict[str, Any] = json.loads(self.report_path.read_text(encoding="utf-8"))
        return loaded

    def config_text(self) -> str | None:
        return self.config_path.read_text(encoding="utf-8") if self.config_path.is_file() else None

    def columns(self) -> list[tuple[str, str]]:
        """The input's columns with a coarse type (number, date, text) for the form."""
        try:
            if self.input.suffix == ".parquet":
                schema = pl.read_parquet_schema(self.input)
            else:
                schema = dict(
                    pl.read_csv(
                        self.input,
                        n_rows=PREVIEW_ROWS,
                        try_parse_dates=True,
                        infer_schema_length=None,
                    ).schema
                )
        except pl.exceptions.PolarsError as exc:
            first = str(exc).strip().splitlines()[0]
            raise errors.bad_input(f"読み込めません: {first}", f"cannot read: {first}") from None
        return [(name, _coarse(dtype)) for name, dtype in schema.items()]


def _coarse(dtype: Any) -> str:
    if dtype.is_numeric():
        return "number"
    if dtype in (pl.Date, pl.Datetime) or isinstance(dtype, pl.Datetime):
        return "date"
    return "text"


_WORK_NOT_FOUND = (
    "anonymize.work_not_found",
    "作業が見つかりません (期限切れ・破棄済み・他の職員のもの)",
    "no such work area (expired, discarded or another official's)",
)


class WorkStore:
    """Work areas and released files of one deployment (``<var_dir>/anonymize``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.work_root = root / "work"
        self.release_root = root / "releases"

    @classmethod
    def for_settings(cls, settings: Settings) -> WorkStore:
        return cls(settings.var_dir / "anonymize")

    def create(
        self,
        stream: BinaryIO,
        filename: str,
        *,
        organization_id: str,
        official_id: str,
        allowed: tuple[str, ...] = (".csv",),
    ) -> Work:
        """Save an upload (checked for size and type while it streams) as a new work area."""
        self.sweep()
        limit = MAX_UPLOAD_BYTES  # read at call time: deployments and tests may lower it
        suffix = Path(filename).suffix.lower()
        work_id = secrets.token_hex(16)
        work = Work(
            id=work_id,
            folder=self.work_root / work_id,
            organization_id=organization_id,
            official_id=official_id,
            filename=Path(filename).name[:200] or "input.csv",
            created_at=utcnow(),
        )
        work.folder.mkdir(parents=True)
        try:
            self._save(stream, work.input, suffix, allowed, limit)
        except BaseException:
            shutil.rmtree(work.folder, ignore_errors=True)
            raise
        meta = {
            "organization_id": organization_id,
            "official_id": official_id,
            "filename": work.filename,
            "created_at": work.created_at.isoformat(),
        }
        (work.folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        try:
            work.columns()  # refuse a table that cannot be read now, not on every page view
        except errors.AnonymizeError:
            self.discard(work)
            raise
        return work

    @staticmethod
    def _save(
        stream: BinaryIO, target: Path, suffix: str, allowed: tuple[str, ...], limit: int
    ) -> None:
        written = 0
        with target.open("wb") as out:
            while chunk := stream.read(CHUNK):
                if written == 0:
                    _check_kind(suffix, chunk[:4096], allowed)
                written += len(chunk)
                if written > limit:
                    raise _too_large(limit)
                out.write(chunk)
        if written == 0:
            raise _unsupported("空のファイルです", "the file is empty")

    def get(self, work_id: str, *, official_id: str) -> Work:
        """The work area ``work_id`` if it belongs to this official and has not expired."""
        folder = self.work_root / work_id
        meta_path = folder / "meta.json"
        if not (len(work_id) == 32 and work_id.isalnum() and meta_path.is_file()):
            raise NotFoundError(*_WORK_NOT_FOUND)
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        created = datetime.fromisoformat(meta["created_at"])
        if meta["official_id"] != official_id or utcnow() - created > WORK_TTL:
            raise NotFoundError(*_WORK_NOT_FOUND)
        return Work(
            work_id, folder, meta["organization_id"], meta["official_id"], meta["filename"], created
        )

    def run(self, work: Work, config_text: str) -> dict[str, Any]:
        """Run the engine on the work's input; a failed run leaves the previous one in place."""
        parsed = config.load_config(config_text)
        staged = work.folder / "output.next.csv"
        try:
            report = engine.run(parsed, work.input, staged)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        report["input"]["name"] = work.filename
        report["output"]["name"] = Path(work.filename).stem + ".anonymized.csv"
        staged.replace(work.output)
        work.config_path.write_text(config_text, encoding="utf-8")
        work.report_path.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
        return report

    def discard(self, work: Work) -> None:
        shutil.rmtree(work.folder, ignore_errors=True)

    def keep_output(self, work: Work, release_id: str) -> Path:
        """Move the work's output to the released files and delete the rest (the raw input)."""
        if not work.output.is_file():
            raise errors.bad_input("まだ加工していません", "nothing has been run yet")
        self.release_root.mkdir(parents=True, exist_ok=True)
        target = self.release_file(release_id)
        shutil.move(work.output, target)
        self.discard(work)
        return target

    def keep_file(self, source: Path, release_id: str) -> Path:
        """Copy a released file given by the operator (CLI) beside the others."""
        self.release_root.mkdir(parents=True, exist_ok=True)
        target = self.release_file(release_id)
        shutil.copyfile(source, target)
        return target

    def release_file(self, release_id: str) -> Path:
        return self.release_root / f"{release_id}.csv"

    def open_works(self, official_id: str) -> list[Work]:
        """This official's unexpired work areas, newest first."""
        found = []
        for folder in self.work_root.glob("*") if self.work_root.is_dir() else []:
            try:
                found.append(self.get(folder.name, official_id=official_id))
            except (NotFoundError, OSError, ValueError, KeyError):
                continue
        return sorted(found, key=lambda w: w.created_at, reverse=True)

    def sweep(self) -> None:
        """Delete expired work areas (and with them any raw input left behind)."""
        if not self.work_root.is_dir():
            return
        now = utcnow()
        for folder in self.work_root.iterdir():
            try:
                meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
                expired = now - datetime.fromisoformat(meta["created_at"]) > WORK_TTL
            except (OSError, ValueError, KeyError):
                expired = now.timestamp() - folder.stat().st_mtime > WORK_TTL.total_seconds()
            if expired:
                shutil.rmtree(folder, ignore_errors=True)
