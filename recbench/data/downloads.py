"""Registry of downloadable data sets, for :func:`recbench.data.download.download`.

``DOWNLOADS`` maps a name to one downloadable file::

    {"url": https URL,
     "sha256": hex sha256 of the downloaded file, or None when not known yet (then the
               first download's sha256 is recorded and later uses are checked against it:
               trust on first use, shown as "unverified" by ``recbench data list``),
     "archive_member": path of the file to extract from the archive, or None for a plain file,
     "source": who published it,
     "bytes": size of the download in bytes, or None when not known,
     "member_md5": (optional) the published md5 of the extracted member, checked once
                   after extraction (reczoo/Datasets publishes md5 sums of its CSV files)}

A data set published as several files gets one entry per file, named
``<dataset>/<file>`` (e.g. ``amazon-book/train`` and ``amazon-book/test``), so every
entry has the same shape.
"""

from __future__ import annotations

_LIGHTGCN = "https://raw.githubusercontent.com/kuandeng/LightGCN/master/Data"
_LIGHTGCN_SOURCE = "He et al., LightGCN (SIGIR 2020), github.com/kuandeng/LightGCN"


def _lightgcn(dataset: str, split: str, sha256: str | None, size: int | None) -> dict:
    """The entry of one of LightGCN's ``Data/<dataset>/<split>.txt`` files."""
    return {"url": f"{_LIGHTGCN}/{dataset}/{split}.txt", "sha256": sha256,
            "archive_member": None, "source": _LIGHTGCN_SOURCE, "bytes": size}


_RECZOO = "https://huggingface.co/datasets/reczoo"
_RECZOO_SOURCE = "BARS / reczoo/Datasets (Zhu et al., SIGIR 2022), huggingface.co/datasets/reczoo"


def _reczoo(dataset: str, md5: dict[str, str | None]) -> dict[str, dict]:
    """The entries of a BARS CTR set: ``<name>/{train,valid,test}``, each a member of the
    data set's one zip (downloaded once), with the md5 reczoo publishes where it does."""
    url = f"{_RECZOO}/{dataset}/resolve/main/{dataset}.zip"
    return {f"{dataset.lower()}/{part}": {
        "url": url, "sha256": None, "archive_member": f"{part}.csv", "source": _RECZOO_SOURCE,
        "bytes": None, "member_md5": md5.get(part)} for part in ("train", "valid", "test")}


DOWNLOADS: dict[str, dict] = {
    # sha256 and size: tensorflow/datasets, tensorflow_datasets/url_checksums/movielens.txt
    "ml-1m": {
        "url": "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        "sha256": "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        "archive_member": "ml-1m/ratings.dat",
        "source": "GroupLens Research, University of Minnesota",
        "bytes": 5917549,
    },
    "ml-20m": {
        "url": "https://files.grouplens.org/datasets/movielens/ml-20m.zip",
        "sha256": "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
        "archive_member": "ml-20m/ratings.csv",
        "source": "GroupLens Research, University of Minnesota",
        "bytes": 198702078,
    },
    # LightGCN's adjacency files. test.txt: sha256 of the blobs of github.com/kuandeng/LightGCN
    # at b067ec0 (blob ids 09e5da4e / 30dfbc34 verified). train.txt blobs were not available
    # offline: unpinned, so they are trust-on-first-use (see download()).
    "amazon-book/train": _lightgcn("amazon-book", "train", None, None),
    "amazon-book/test": _lightgcn(
        "amazon-book", "test",
        "6250754994dd953b91b48dccdd77a73f318e0634b4757c2abfcc9d33a54ab0f5", 3848611),
    "yelp2018/train": _lightgcn("yelp2018", "train", None, None),
    "yelp2018/test": _lightgcn(
        "yelp2018", "test",
        "9cd9b37926cd1447a06625ffa7914527573fb097c10cb0bbdb1d1b8ded3742fe", 1986152),
    # BARS' CTR sets (reczoo/Datasets): one zip each; the zips' sha256 are not published
    # (trust on first use), Frappe_x1's CSV md5 sums are (its README.md)
    **_reczoo("Frappe_x1", {"train": "ba7306e6c4fc19dd2cd84f2f0596d158",
                            "valid": "88d51bf2173505436d3a8f78f2a59da8",
                            "test": "3470f6d32713dc5f7715f198ca7c612a"}),
    **_reczoo("MovielensLatest_x1", {}),
    **_reczoo("Criteo_x1", {}),
    **_reczoo("Avazu_x1", {}),
}


def entries(name: str) -> dict[str, dict]:
    """The registry entries of data set ``name`` (one, or one per file)."""
    return {k: v for k, v in DOWNLOADS.items() if k == name or k.startswith(name + "/")}


def checksum_note(root: str) -> str:
    """How the files of a data set ``root`` are checked when downloaded, for ``recbench data
    list``: ``sha256 pinned``, ``unverified (trust on first use): FILES`` for files without a
    published sha256, or ``-`` for data that is not downloaded."""
    scheme, _, name = str(root).partition(":")
    found = entries(name) if scheme == "download" else {}
    if not found:
        return "-"
    unpinned = list(dict.fromkeys(entry["url"].rsplit("/", 1)[-1] for entry in found.values()
                                  if not entry["sha256"]))  # one zip may hold several parts
    members = [entry["archive_member"] for entry in found.values() if entry.get("member_md5")]
    note = (f"unverified (trust on first use): {', '.join(unpinned)}" if unpinned
            else "sha256 pinned")
    return note + (f"; md5 pinned: {', '.join(members)}" if members else "")
