"""Open submissions: a system that runs outside recbench (an LLM-based recommender, a
proprietary model, code in another framework) submits its rankings, or its CTR
probabilities, and recbench scores them as a run like any other.

``recbench data export`` hands out the split (:mod:`recbench.splits.export`); the system
writes, per part:

- top-N: a TREC run file, ``user Q0 item rank score tag`` (raw ids), each test user's
  top-K items ranked as trec_eval ranks them (by score, highest first; equal scores by item
  id, descending). The rank column is not read: write distinct scores (e.g. ``K - rank``).
- CTR: a CSV ``row_id,probability`` with one line per row of the part.

A first line ``# recbench protocol <split fingerprint>`` (``protocol.json``) ties the file to
the split it was made for: a file made for another split is refused (a file without it is
scored, with a note that its split could not be checked).

Nothing is fitted: :meth:`Submission.score` gives each listed item the score of its place
in its user's list and every other item ``-inf``, so the normal ranker and metric suite
compute exactly what they compute for native models. Items the task masks (train, and
validation at test) never count: a list that holds one is refused, or, with
``drop_masked=true``, the item is left out and the rest move up (the count is logged). A
list shorter than the metrics' largest K ends early, as trec_eval scores it (the positions
after its end are no hits; the count of such lists is logged).

Everything is checked before the run is created (:meth:`Submission.check`, called by
``recbench run``): a bad file is one line and exit status 2, with nothing logged.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from recbench.errors import RecbenchError
from recbench.models.base import FitContext, Recommender
from recbench.models.constraints import OneOf

#: what a submitted file's first line holds: ``# recbench protocol <split fingerprint>``
HEADER = "recbench protocol"
#: the parts a submission may rank, and the config key of each part's file
FILE_KEYS = {"test": "model.file", "valid": "model.valid_file"}


@dataclass(frozen=True)
class OptionalFile:
    """None, or the path of an existing file (a :mod:`recbench.models.constraints` rule)."""

    def __contains__(self, value) -> bool:
        return value is None or isinstance(value, str) and Path(value).is_file()

    def __str__(self) -> str:
        return "unset (null) or the path of an existing file"


#: the constraints every submission model declares
CONSTRAINTS = {"file": OptionalFile(), "valid_file": OptionalFile(),
               "drop_masked": OneOf((True, False))}


def _count(n: int, word: str, plural: str | None = None) -> str:
    """``"1 item"``, ``"3 items"``."""
    return f"{n} {word if n == 1 else plural or word + 's'}"


def _check_protocol(path: str, expected: str, fix: str) -> None:
    """Refuse a file whose header names another split fingerprint than ``expected``."""
    from recbench.evaluation.trec import header_lines

    for line in header_lines(path):
        if line.startswith(HEADER):
            carried = line[len(HEADER):].strip()
            if carried != expected:
                raise RecbenchError(
                    f"{path}: made for split {carried[:12] or '(none)'}, but this run's split "
                    f"is {expected[:12]} (dataset, split or their settings differ): {fix} of "
                    f"the protocol exported with the run's dataset=/split= (protocol.json), "
                    f"or fix the overrides.")


def _native_names() -> set[str]:
    """The names recbench's own models log runs under (each model config's ``name`` and
    file name), which a submission's label must not take."""
    from omegaconf import OmegaConf

    from recbench.paths import CONFIG_DIR

    names = set()
    for path in (CONFIG_DIR / "model").rglob("*.yaml"):
        names |= {path.stem, str(OmegaConf.load(path).get("name") or path.stem)}
    return names - {"submission"}


def _sample(values, n: int = 3) -> str:
    return ", ".join(f"'{v}'" for v in list(dict.fromkeys(values))[:n])  # each value once


def _indices(raw: pd.Series, ids: np.ndarray, what: str, path: str, data_name: str) -> np.ndarray:
    """Positions of the raw ids ``raw`` among the data set's ``ids``; unknown ids refused."""
    index = pd.Index(np.asarray(ids).astype(str))
    found = index.get_indexer(raw.astype(str))
    if (found < 0).any():
        unknown = pd.unique(raw[found < 0])
        raise RecbenchError(
            f"{path}: {_count(len(unknown), what)} ({_count(int((found < 0).sum()), 'line')}) "
            f"not in dataset '{data_name}', e.g. {_sample(unknown)}: write the raw {what} ids "
            f"of the exported files.")
    return found


@dataclass
class Ranked:
    """One part's submitted lists, mapped onto the split.

    Attributes:
        scores: ``(n_users, n_items)`` CSR, the score of each listed item (its place from
            the end of its list; the first item scores highest); masked items left out.
        length: ``(n_users,)`` items listed per user (masked items dropped).
        room: ``(n_users,)`` items each user can be recommended (not masked).
        targets: users with held-out items in the part (those evaluated).
        report: counts logged as metrics ``submission_<part>_<name>``.
    """

    scores: sp.csr_matrix
    length: np.ndarray
    room: np.ndarray
    targets: np.ndarray
    report: dict[str, int]

    def short(self, k: int) -> np.ndarray:
        """Evaluated users whose list ends before ``k`` while items remain to list."""
        need = np.minimum(k, self.room[self.targets])
        return self.targets[self.length[self.targets] < need]


def read_ranking(path: str, split, part: str, drop_masked: bool) -> Ranked:
    """Read and check a submitted TREC run for ``part`` (``"valid"`` or ``"test"``) of
    ``split``: the protocol header, users and items of the data set, no item twice in a
    list (:func:`~recbench.evaluation.trec.read_run`), masked items refused or dropped."""
    from recbench.evaluation.ranker import seen_matrix
    from recbench.evaluation.trec import read_run
    from recbench.tasks.topn import TopNRanking

    _check_protocol(path, split.fingerprint["sha256"], "rank the users")
    run = read_run(Path(path), comments=True)
    data = split.data
    users = _indices(run["qid"], data.user_ids, "user", path, data.name)
    items = _indices(run["docid"], data.item_ids, "item", path, data.name)
    masked_parts = TopNRanking._masked(split) + ([split.valid] if part == "test" else [])
    masked = seen_matrix((data.n_users, data.n_items), masked_parts).tocsr()
    hit = np.asarray(masked[users, items]).ravel() > 0 if len(users) else np.zeros(0, bool)
    if hit.any() and not drop_masked:
        first = np.flatnonzero(hit)[0]
        what = "train or validation" if part == "test" else "train"
        raise RecbenchError(
            f"{path}: {_count(int(hit.sum()), 'listed item')} masked for its user ({what} items, "
            f"which the {part} ranking leaves out), e.g. item '{run['docid'].iloc[first]}' for "
            f"user '{run['qid'].iloc[first]}': remove them, or pass model.drop_masked=true to "
            f"drop them (the number dropped is logged).")
    keep = ~hit
    users, items = users[keep], items[keep]
    pos = pd.Series(users).groupby(users, sort=False).cumcount().to_numpy()
    length = np.bincount(users, minlength=data.n_users)
    scores = sp.csr_matrix(((length[users] - pos).astype(np.float32), (users, items)),
                           shape=(data.n_users, data.n_items))
    truth = split.test if part == "test" else split.valid
    targets = np.flatnonzero(np.diff(truth.indptr) > 0)
    listed = np.unique(users)
    report = {"n_users_listed": int(len(listed)),
              "n_missing_users": int(len(np.setdiff1d(targets, listed))),
              "n_other_users": int(len(np.setdiff1d(listed, targets))),
              "n_dropped_masked": int(hit.sum())}
    room = data.n_items - np.diff(masked.indptr)
    return Ranked(scores, length, room, targets, report)


def read_probabilities(path: str, ids: np.ndarray, fingerprint: str, part: str) -> pd.Series:
    """Read and check a submitted CTR file ``row_id,probability`` for the rows ``ids`` of
    one part: every row once, no other row, probabilities in [0, 1]. Returns the
    probabilities indexed by row id."""
    from recbench.data.readers import undecodable
    from recbench.evaluation.trec import header_lines

    _check_protocol(path, fingerprint, "predict the rows")
    try:
        frame = pd.read_csv(path, skiprows=len(header_lines(path)), dtype=str,
                            keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise RecbenchError(f"{path}: the file is empty; expected a header 'row_id,probability' "
                            f"and one line per {part} row.") from None
    except pd.errors.ParserError as err:
        raise RecbenchError(f"{path}: not a CSV ({str(err).splitlines()[0]}); expected "
                            f"'row_id,probability' lines.") from None
    except UnicodeDecodeError:
        raise undecodable(Path(path)) from None
    if list(frame.columns) != ["row_id", "probability"]:
        raise RecbenchError(f"{path}: columns {list(frame.columns)}, expected exactly "
                            f"['row_id', 'probability'] (a header line 'row_id,probability').")
    # whole numbers of at most 18 digits (an int64; "12.0" too): a longer one would overflow
    bad = ~frame["row_id"].str.fullmatch(r"\s*\d{1,18}(\.0*)?\s*")
    p = pd.to_numeric(frame["probability"], errors="coerce")
    if bad.any():
        raise RecbenchError(f"{path}: {_count(int(bad.sum()), 'row id')} not integer, e.g. "
                            f"{_sample(frame['row_id'][bad])}: write the row_id of the "
                            f"exported {part} file.")
    rows = pd.to_numeric(frame["row_id"]).astype(np.int64)
    repeated = rows.duplicated()
    if repeated.any():
        raise RecbenchError(f"{path}: {_count(int(repeated.sum()), 'row')} more than once, e.g. "
                            f"{_sample(pd.unique(rows[repeated]))}: one probability per row.")
    outside = p.isna() | (p < 0) | (p > 1)
    if outside.any():
        n = _count(int(outside.sum()), "probability", "probabilities")
        raise RecbenchError(f"{path}: {n} not a number in [0, 1], e.g. "
                            f"{_sample(frame['probability'][outside])} (row "
                            f"{_sample(rows[outside], 1)}): write click probabilities.")
    missing = np.setdiff1d(ids, rows.to_numpy())
    extra = np.setdiff1d(rows.to_numpy(), ids)
    if len(missing) or len(extra):
        raise RecbenchError(
            f"{path}: {_count(len(missing), part + ' row')} missing"
            + (f" (e.g. {_sample(missing)})" if len(missing) else "")
            + f" and {_count(len(extra), 'row')} not of the {part} part"
            + (f" (e.g. {_sample(extra)})" if len(extra) else "")
            + f": write one line per row of the exported {part} file, {len(ids)} in all.")
    return pd.Series(p.to_numpy(np.float64), index=rows.to_numpy())


class _Submitted:
    """What both submission models share: the files, their hashes, the run's tags."""

    task = "topn"
    parameter_constraints = CONSTRAINTS

    def _init(self, values: dict) -> None:
        from recbench.config import file_sha256
        from recbench.models.constraints import check_params

        check_params(type(self).__name__, values, CONSTRAINTS)
        for key, digest in (("file", "sha256"), ("valid_file", "valid_sha256")):
            given = values[digest]
            if given is not None and given != file_sha256(values[key]):
                raise ValueError(f"{type(self).__name__} {digest} is the sha256 of {key}, "
                                 f"computed by the config: leave model.{digest} unset")
        self.file, self.valid_file = values["file"], values["valid_file"]
        self.description, self.url = values["description"], values["url"]
        self.drop_masked = bool(values["drop_masked"])
        self.parts = ("valid", "test") if self.valid_file else ("test",)
        self.best_epoch = None

    def _files(self) -> dict[str, str]:
        """The file of each part submitted."""
        return {part: getattr(self, "valid_file" if part == "valid" else "file")
                for part in self.parts}

    def _check_config(self, cfg) -> None:
        if self.file is None:
            raise RecbenchError("model=submission reads the test part's rankings from a file: "
                                "pass model.file=RUN (a TREC run file, or for task=ctr a CSV "
                                "row_id,probability).")
        label = cfg.model.get("label")
        if not label:
            raise RecbenchError("model=submission needs model.label=NAME: the submitted "
                                "system's name on the leaderboard, e.g. model.label=my-llm-rec.")
        if str(label) in _native_names():  # one leaderboard row would mix the two
            raise RecbenchError(f"model.label={label} names a recbench model: the leaderboard "
                                f"would merge the submission with its runs; pick another "
                                f"name, e.g. model.label={label}-external.")
        from recbench.evaluation.trec import header_lines

        for part, path in self._files().items():  # a file without it is not tied to a split
            if not any(line.startswith(HEADER) for line in header_lines(path)):
                print(f"submission {part}: {path} has no first line '# {HEADER} <split "
                      f"fingerprint>' (protocol.json 'header'): the split it was made for "
                      f"cannot be checked", file=sys.stderr)

    def tags(self) -> dict[str, str]:
        from recbench.data.atomic import sha256_file

        tags = {"submission": "true", "submission.sha256": sha256_file(Path(self.file))}
        if self.valid_file:
            tags["submission.valid_sha256"] = sha256_file(Path(self.valid_file))
        for key in ("description", "url"):
            if getattr(self, key):
                tags[f"submission.{key}"] = str(getattr(self, key))
        return tags

    def n_parameters(self) -> int:
        return 0


class Submission(_Submitted, Recommender):
    """Top-N rankings made outside recbench, read from TREC run files (raw ids).

    Args:
        file: the test part's run file (``user Q0 item rank score tag``).
        valid_file: the validation part's run file, made by the same system (trained on
            train only, like every model): the run logs ``valid_*`` metrics and the
            leaderboard's best-by-validation rule applies to it. None: test only.
        description: one line about the system (tag ``submission.description``).
        url: where the system is described (tag ``submission.url``).
        drop_masked: leave out listed items the ranking masks (train; validation at test)
            instead of refusing the file; the number left out is logged.
        sha256, valid_sha256: set by the config from the files' content (leave unset): a
            changed file is a new configuration, not a FINISHED run skipped.
    """

    lists_end_at_minus_inf = True  # unlisted items score -inf: a short list ends early

    def __init__(self, file: str | None = None, valid_file: str | None = None,
                 description: str | None = None, url: str | None = None,
                 drop_masked: bool = False, sha256: str | None = None,
                 valid_sha256: str | None = None):
        self._init(locals())
        self.ranked: dict[str, Ranked] = {}
        self.current: Ranked | None = None
        self.log = None

    def _read(self, split) -> dict[str, Ranked]:
        return {part: read_ranking(path, split, part, self.drop_masked)
                for part, path in self._files().items()}

    def check(self, split, cfg) -> None:
        """Everything :meth:`fit` will read, checked before the run is created; what is
        worth knowing (lists shorter than the largest K, items dropped) printed."""
        from recbench.config import metric_names
        from recbench.evaluation.registry import parse_metric

        self._check_config(cfg)
        k = max(parse_metric(m)[1] for m in metric_names(cfg))
        for part, ranked in self._read(split).items():
            print(f"submission {part}: {_describe(ranked, k)}", file=sys.stderr)

    def _fit(self, train, valid, ctx: FitContext) -> None:
        if ctx.split is None:
            raise RecbenchError("a submission is scored by a task (recbench run "
                                "model=submission), which hands it the split.")
        self.ranked = self._read(ctx.split)
        self.current = self.ranked["test"]  # until the task names the part it scores
        self.log = ctx.log
        if ctx.tag is not None:
            ctx.tag(self.tags())
        if ctx.log is not None:
            ctx.log({f"submission_{part}_{name}": float(value)
                     for part, ranked in self.ranked.items()
                     for name, value in ranked.report.items()}, 0)

    def rank_part(self, part: str, k: int) -> None:
        """Switch to ``part``'s lists and log how many are shorter than ``k``; unlisted
        items score ``-inf`` and end a list (:attr:`lists_end_at_minus_inf`), so nothing
        is added to the mask (a users x items mask of unlisted items would not fit)."""
        self.current = self.ranked[part]
        if self.log is not None:
            self.log({f"submission_{part}_n_short_lists": float(len(self.current.short(k)))}, 0)

    def score(self, users: torch.Tensor) -> torch.Tensor:
        rows = self.current.scores[users.cpu().numpy()]
        out = torch.full(rows.shape, float("-inf"), dtype=torch.float32)
        at = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
        out[torch.from_numpy(at), torch.from_numpy(rows.indices.astype(np.int64))] = \
            torch.from_numpy(rows.data.astype(np.float32))
        return out


def _describe(ranked: Ranked, k: int) -> str:
    r = ranked.report
    return (f"{_count(r['n_users_listed'], 'user')} listed, {len(ranked.targets)} evaluated, "
            f"{r['n_missing_users']} evaluated users without a list (scored 0), "
            f"{len(ranked.short(k))} lists shorter than K={k} (scored as trec_eval does: "
            f"no hits after their end), {r['n_dropped_masked']} masked items dropped")


class CTRSubmission(_Submitted):
    """CTR probabilities made outside recbench, read from CSV files ``row_id,probability``
    (the row ids of ``recbench data export``). Arguments as :class:`Submission`
    (``drop_masked`` does not apply)."""

    task = "ctr"

    def __init__(self, file: str | None = None, valid_file: str | None = None,
                 description: str | None = None, url: str | None = None,
                 drop_masked: bool = False, sha256: str | None = None,
                 valid_sha256: str | None = None):
        self._init(locals())
        self.probabilities = pd.Series(dtype=np.float64)

    def _read(self, split) -> pd.Series:
        from recbench.splits.base import TEST, VALID

        ids = {"valid": split.parts[VALID].ids, "test": split.parts[TEST].ids}
        return pd.concat([read_probabilities(path, ids[part], split.fingerprint["sha256"], part)
                          for part, path in self._files().items()])

    def check(self, split, cfg) -> None:
        self._check_config(cfg)
        self._read(split)

    def fit(self, train, valid, ctx: FitContext) -> "CTRSubmission":
        self.probabilities = self._read(ctx.split)
        if ctx.tag is not None:
            ctx.tag(self.tags())
        return self

    def predict(self, part) -> np.ndarray:
        return self.probabilities.reindex(part.ids).to_numpy()


#: the submission model of each task, by task name: configs/model/submission.yaml picks
#: it with ``_target_: recbench.models.submission.${task.name}``
topn = Submission
ctr = CTRSubmission
