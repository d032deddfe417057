"""Registry of downloadable data sets, for :func:`recbench.data.download.download`.

``DOWNLOADS`` maps a name to one downloadable file::

    {"url": https URL,
     "sha256": hex sha256 of the downloaded file, or None when not known yet,
     "archive_member": path of the file to extract from the archive, or None for a plain file,
     "source": who published it,
     "bytes": size of the download in bytes, or None when not known}

A data set published as several files gets one entry per file, named
``<dataset>/<file>`` (e.g. ``amazon-book/train`` and ``amazon-book/test``), so every
entry has the same shape.
"""

from __future__ import annotations

_LIGHTGCN = "https://raw.githubusercontent.com/kuandeng/LightGCN/master/Data"
_LIGHTGCN_SOURCE = "He et al., LightGCN (SIGIR 2020), github.com/kuandeng/LightGCN"

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
    **{
        f"{dataset}/{split}": {
            "url": f"{_LIGHTGCN}/{dataset}/{split}.txt",
            "sha256": None,  # sha256 unknown offline: verify on first download
            "archive_member": None,
            "source": _LIGHTGCN_SOURCE,
            "bytes": None,
        }
        for dataset in ("amazon-book", "yelp2018")
        for split in ("train", "test")
    },
}
