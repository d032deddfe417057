"""Checksummed, atomic downloads and single-member archive extraction.

Every failure raises :class:`~recbench.errors.RecbenchError` with one line that names
the problem and the fix. Files are first written to ``<name>.part-<hex>`` next to
their destination and moved into place with :func:`os.replace`, so a destination is
either absent, unchanged, or complete; never half-written.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import secrets
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import IO

from recbench.data.atomic import sha256_file
from recbench.errors import RecbenchError, one_line

#: Bytes read from the network or an archive per step (1 MiB).
BLOCK_BYTES = 1 << 20


def download(url: str, dest: Path, sha256: str | None, *, progress: bool = True,
             timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` and return ``dest``.

    If ``dest`` already exists with the expected sha256 (hex), return it without
    touching the network. Otherwise stream the body into a temporary file in
    ``dest.parent`` (created if missing), hashing as it goes, and move it into place
    only if it is complete and its sha256 matches.

    ``sha256=None`` (no published checksum) is trust on first use: the first download's
    sha256 is recorded in ``<dest>.sha256`` (``sha256sum`` format) and every later use, and
    any later download, must match it; a changed ``dest`` is refused, never replaced.

    Args:
        url: http(s) URL to fetch.
        dest: final path of the file.
        sha256: expected hex sha256 of the file's bytes, or None.
        progress: draw a rich progress bar (bytes, transfer speed) on stderr.
        timeout: socket timeout in seconds, for connecting and for each read.

    Raises:
        RecbenchError: the server cannot be reached, answers with an HTTP error or times
            out; the transfer is truncated; the checksum does not match; or an unpinned
            ``dest`` no longer matches its recorded sha256.
    """
    dest = Path(dest)
    record = record_path(dest)
    expected = sha256.lower() if sha256 else _read_record(record, dest)
    if dest.is_file():
        actual = sha256_file(dest)
        if actual == expected:
            return dest
        if sha256 is None and expected is None:  # put there by hand or by an older recbench
            _write_record(record, actual)
            print(f"warning: {dest} has no published or recorded sha256; recorded its sha256 "
                  f"{actual} in {record} (trust on first use).", file=sys.stderr)
            return dest
        if sha256 is None:  # trust on first use: the file changed since it was downloaded
            raise RecbenchError(
                f"{dest} changed since its first download: sha256 {actual}, expected {expected} "
                f"(recorded in {record}); delete {dest} to download it again.")
    with _atomic_output(dest) as out:
        actual = _fetch(url, out, dest, expected, progress=progress, timeout=timeout)
        if expected is not None and actual != expected:
            recorded = (f" (recorded in {record} at the first download; delete it too if the "
                        f"file changed upstream on purpose)" if sha256 is None else "")
            raise RecbenchError(
                f"checksum mismatch for {url}: expected {expected}{recorded}, got {actual}; the "
                f"file changed upstream or the transfer was corrupted. Nothing was written to "
                f"{dest}.")
    if expected is None:  # first download of an unpinned file: later uses are checked
        _write_record(record, actual)
        print(f"warning: no published sha256 for {url}; the downloaded file has sha256 "
              f"{actual}, recorded in {record} (trust on first use). Pin it in "
              f"recbench/data/downloads.py.", file=sys.stderr)
    return dest


def record_path(dest: Path) -> Path:
    """Where the sha256 of an unpinned download is recorded: ``<dest>.sha256``."""
    return dest.with_name(dest.name + ".sha256")


def _read_record(record: Path, dest: Path) -> str | None:
    """The sha256 recorded in ``record`` (first field), or None when there is none."""
    if not record.is_file():
        return None
    fields = record.read_text(encoding="utf-8", errors="replace").split()
    if not fields or not re.fullmatch(r"[0-9a-f]{64}", fields[0]):
        raise RecbenchError(f"{record} holds no sha256; delete it and {dest} to download "
                            f"the file again.")
    return fields[0]


def _write_record(record: Path, digest: str) -> None:
    """Record ``digest`` atomically, as ``sha256sum`` writes it (``sha256sum -c`` reads it)."""
    name = record.name.removesuffix(".sha256")
    with _atomic_output(record) as out:
        out.write(f"{digest}  {name}\n".encode())


def extract(archive: Path, member: str, dest_dir: Path) -> Path:
    """Extract one ``member`` of a .zip or .tar.gz/.tgz ``archive`` into ``dest_dir``.

    The member keeps its relative path under ``dest_dir`` and is written atomically
    (temporary file + :func:`os.replace`). Returns the extracted file's path.

    Raises:
        RecbenchError: the member's path escapes ``dest_dir`` (path traversal), the
            member is missing or not a regular file, or the archive cannot be read.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    root = dest_dir.resolve()
    target = (root / member).resolve()
    if target == root or not target.is_relative_to(root):
        raise RecbenchError(
            f"refusing to extract '{member}' from {archive}: its path escapes {dest_dir}; "
            "the archive is malformed or malicious."
        )
    try:
        with _open_member(archive, member) as src, _atomic_output(target) as out:
            shutil.copyfileobj(src, out, BLOCK_BYTES)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
        raise RecbenchError(
            f"cannot extract '{member}' from {archive}: {one_line(err)}; "
            "delete the archive to download it again."
        ) from None
    return target


def _fetch(url: str, out: IO[bytes], dest: Path, sha256: str | None, *, progress: bool,
           timeout: float) -> str:
    """Stream ``url`` into ``out``; return the hex sha256 of the bytes received."""
    def unreachable(reason: object) -> RecbenchError:
        checksum = f" (sha256 {sha256})" if sha256 else ""
        return RecbenchError(
            f"cannot download {url}: {one_line(reason)}; check the network, "
            f"or put the file at {dest} yourself{checksum}."
        )

    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as err:
        raise unreachable(f"HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        raise unreachable(err.reason) from None
    except (http.client.HTTPException, OSError, ValueError) as err:
        raise unreachable(err) from None

    total = response.length  # Content-Length in bytes, None if not sent
    digest, got, cut = hashlib.sha256(), 0, False
    with response, _progress_bar(progress) as bar:
        task = bar.add_task(Path(url).name or url, total=total) if bar else None
        try:
            while block := response.read(BLOCK_BYTES):
                digest.update(block)
                out.write(block)
                got += len(block)
                if bar:
                    bar.update(task, advance=len(block))
        except (http.client.IncompleteRead, ConnectionResetError):
            cut = True
        except (OSError, http.client.HTTPException) as err:  # timeouts included
            raise unreachable(err) from None
    if cut or (total is not None and got != total):
        of = total if total is not None else "an unknown number of"
        raise RecbenchError(
            f"download of {url} was truncated: got {got} of {of} bytes; run again to retry."
        )
    return digest.hexdigest()


@contextmanager
def _atomic_output(dest: Path) -> Iterator[IO[bytes]]:
    """Yield a new ``<dest>.part-<hex>`` file; on success it replaces ``dest``, on error it is deleted."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = dest.with_name(f"{dest.name}.part-{secrets.token_hex(4)}")
    try:
        with open(temp, "xb") as out:
            yield out
        os.replace(temp, dest)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@contextmanager
def _open_member(archive: Path, member: str) -> Iterator[IO[bytes]]:
    """Yield a readable stream of ``member``'s bytes inside ``archive``."""
    name = archive.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            if member not in names:  # zipped with its folder: the one member of that name
                inside = [n for n in names if n.endswith("/" + member)]
                member = inside[0] if len(inside) == 1 else member
            if member not in names or member.endswith("/"):
                raise _missing(archive, member, names)
            with zf.open(member) as src:
                yield src
    elif name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive, "r:gz") as tf:
            try:
                info = tf.getmember(member)
            except KeyError:
                raise _missing(archive, member, tf.getnames()) from None
            src = tf.extractfile(info) if info.isfile() else None
            if src is None:
                raise RecbenchError(f"'{member}' in {archive} is not a regular file; "
                                    "name a file member instead.")
            with src:
                yield src
    else:
        raise RecbenchError(f"cannot extract from {archive}: unsupported archive type; "
                            "use a .zip, .tar.gz or .tgz file.")


def _missing(archive: Path, member: str, names: list[str]) -> RecbenchError:
    """Build the "member not found" error, listing up to 10 of the archive's members."""
    shown = ", ".join(names[:10]) + (f", ... ({len(names)} in all)" if len(names) > 10 else "")
    return RecbenchError(f"'{member}' not found in {archive}; it holds: {shown or 'nothing'}.")


def _progress_bar(enabled: bool):
    """A rich progress bar on stderr showing bytes and transfer speed, or a null context."""
    if not enabled:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                               TimeRemainingColumn, TransferSpeedColumn)

    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), transient=True)


def _check_md5(path: Path, md5: str | None, archive: Path) -> None:
    """The published md5 of an extracted file, or a one-line error (the file is removed)."""
    if md5 is None:
        return
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(BLOCK_BYTES):
            digest.update(block)
    if digest.hexdigest() != md5:
        path.unlink()
        raise RecbenchError(f"{path.name} extracted from {archive} has md5 {digest.hexdigest()}, "
                            f"the publisher's is {md5}; delete {archive} (and its .sha256 "
                            f"record) to download it again.")


def fetch_dataset(name: str, cache: Path, *, progress: bool = True) -> Path:
    """Download (once) every file of a registered data set; return the folder holding them.

    Files go to ``cache/<name>/``; archives are unpacked there (the member keeps its path).
    """
    from recbench.data.downloads import DOWNLOADS, entries

    files = entries(name)
    if not files:
        from recbench.errors import unknown_choice
        raise unknown_choice("downloadable data set", name,
                             sorted({k.split("/")[0] for k in DOWNLOADS}))
    folder = Path(cache) / name
    found = folder
    for entry in files.values():
        target = folder / entry["url"].rsplit("/", 1)[-1]
        download(entry["url"], target, entry["sha256"], progress=progress)
        if entry["archive_member"]:
            member = Path(entry["archive_member"])
            extracted = folder / member
            if not extracted.is_file():
                extract(target, str(member), folder)
                _check_md5(extracted, entry.get("member_md5"), target)
            found = extracted.parent
    return found
