"""Leaderboard figures (PNG + SVG) and the self-contained HTML page, incl. a real browser."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from recbench.report.board import Board
from recbench.report.html import render_html
from recbench.report.plots import pareto_front, write_plots
from recbench.report.significance import compare_to_best

METRICS = ["ndcg@10", "recall@10"]
MODELS = ["EASE", "ItemKNN", "MostPop <pop>"]  # "<" and ">" must come out escaped
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_board(split: str = "random", significance: bool = True, curves: bool = True) -> Board:
    """Three models, two metrics (best first by NDCG), synthetic per-user significance."""
    rng = np.random.default_rng(0)
    level = {"EASE": 0.40, "ItemKNN": 0.35, "MostPop <pop>": 0.20}
    users = pd.RangeIndex(200, name="user")
    per_user = {m: pd.DataFrame({k: np.clip(v + rng.normal(0, 0.1, len(users)), 0, 1)
                                 for k in METRICS}, index=users) for m, v in level.items()}
    table = pd.DataFrame({
        "model": MODELS, "seeds": [3, 3, 1], "seed_list": ["0,1,2", "0,1,2", "0"],
        "configs_tried": [20, 10, 1], "chosen_on": "validation",
        "config_hash": ["aaaa11112222", "bbbb11112222", "cccc11112222"],
        "ndcg@10": [0.40, 0.35, 0.20], "ndcg@10_std": [0.01, 0.02, np.nan],
        "recall@10": [0.30, 0.32, 0.10], "recall@10_std": [0.01, 0.015, np.nan],
        "fit_time_s": [2.0, 0.5, 0.0], "eval_time_s": [0.3, 0.4, 0.1],
        "n_parameters": [2_000_000, 0, 1682], "tuning_fit_time_s": [40.0, 5.0, 0.0],
        "split_fingerprint": "1234567890ab", "data_fingerprint": "fedcba098765",
        "command": [f"recbench run -m model={m} seed=0,1,2" for m in ("ease", "itemknn", "pop")],
        "run_ids": ["r1;r2;r3", "r4;r5;r6", "r7"], "parent_ids": ["p1", "p2", ""],
        "n_trials": [20, 10, np.nan], "search_space": ['{"l2": [1, 1000]}', "{}", "none"],
        "sampler": ["tpe", "random", ""], "versions": "recbench==0.1.0 numpy==2.0.0"})
    board = Board(dataset="ml-100k", split=split, table=table, valid_metric="ndcg@10")
    if significance:
        board.significance = compare_to_best(per_user, METRICS, table[["model", *METRICS]])
    else:
        board.notes.append("No significance tests: no per-user artifacts.")
    if curves:
        epochs = np.arange(1, 6)
        board.curves["EASE"] = pd.DataFrame({
            "seed": np.repeat([0, 1, 2], len(epochs)), "epoch": np.tile(epochs, 3),
            "value": np.concatenate([0.3 + 0.02 * epochs + 0.01 * s for s in range(3)])})
    return board


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Two boards (the second without significance and curves), their plots and page."""
    out = tmp_path_factory.mktemp("report")
    boards = [make_board(), make_board("temporal", significance=False, curves=False)]
    plots = {b.slug: write_plots(b, METRICS, out / "plots") for b in boards}
    context = {"Experiments": "ml100k_leaderboard", "Generated": "2024-01-01 00:00 UTC"}
    page = render_html(boards, METRICS, 0.05, "ml100k <leaderboard>", context, plots)
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return {"boards": boards, "plots": plots, "page": page, "path": path}


# ----------------------------------------------------------------------------- Pareto
@pytest.mark.parametrize("times, scores, front", [
    ([1.0, 2.0, 3.0], [0.1, 0.2, 0.3], [0, 1, 2]),          # each slower one is better
    ([3.0, 1.0, 2.0], [0.1, 0.3, 0.2], [1]),                 # the fastest is also best
    ([1.0, 1.0, 2.0], [0.1, 0.3, 0.2], [1]),                 # same time: the better wins
    ([1.0, 2.0, 0.5], [0.3, 0.3, 0.1], [2, 0]),              # same score: the faster wins
    ([1.0, 1.0, 2.0], [0.3, 0.3, 0.4], [0, 1, 2]),           # exact duplicates: both kept
    ([1.0, np.nan, 2.0], [0.1, 0.9, np.nan], [0]),           # NaN never on the front
    ([], [], []),
])
def test_pareto_front(times, scores, front):
    assert pareto_front(times, scores) == front


# ------------------------------------------------------------------------------ plots
def test_plots_written_for_every_kind(written):
    first, second = (written["plots"][b.slug] for b in written["boards"])
    assert list(first) == ["bars", "pareto", "curves"]
    assert list(second) == ["bars", "pareto"]  # no curves: neither listed nor written
    assert not list(second["bars"].parent.glob(f"{written['boards'][1].slug}_curves.*"))
    for kind, png in [*first.items(), *second.items()]:
        assert png.name.endswith(f"_{kind}.png")
        assert png.read_bytes()[:8] == PNG_MAGIC
        height, width, _ = matplotlib.image.imread(png).shape
        assert height > 200 and width > 200
        svg = png.with_suffix(".svg")
        assert ET.parse(svg).getroot().tag.endswith("svg")


def test_dotted_names_keep_one_file_per_plot(tmp_path):
    """A dot in a data set or split name is part of the name, not an extension: every
    kind keeps its own files (``with_suffix`` once wrote them all to ``ml-1m.png``)."""
    board = make_board("ratio.0.8", significance=False, curves=False)
    board.dataset = "ml-1m.v2"
    written = write_plots(board, METRICS, tmp_path)
    assert [p.name for p in written.values()] == ["ml-1m.v2_ratio.0.8_bars.png",
                                                  "ml-1m.v2_ratio.0.8_pareto.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"ml-1m.v2_ratio.0.8_{kind}.{ext}" for kind in written for ext in ("png", "svg"))


def test_plots_are_byte_identical_across_runs(tmp_path, written):
    board = written["boards"][0]
    again = write_plots(board, METRICS, tmp_path)
    for kind, png in written["plots"][board.slug].items():
        assert again[kind].with_suffix(".svg").read_bytes() == png.with_suffix(".svg").read_bytes()
        assert again[kind].read_bytes() == png.read_bytes()


# ------------------------------------------------------------------------------- HTML
class _Tags(HTMLParser):
    """Leaderboard rows per table, every ``src``/``href`` and the sortable tables."""

    def __init__(self):
        super().__init__()
        self.tables, self.urls, self.imgs, self._in_leaderboard = [], [], [], False
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.urls += [v for k, v in attrs.items() if k in ("src", "href")]
        if tag == "img":
            self.imgs.append(attrs)
        if tag == "table":
            self._in_leaderboard = "leaderboard" in attrs.get("class", "").split()
            if self._in_leaderboard:
                self.tables.append(0)
        self._in_body = self._in_body or (tag == "tbody" and self._in_leaderboard)
        if tag == "tr" and self._in_body:
            self.tables[-1] += 1

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False


def test_html_tables_and_links(written):
    parsed = _Tags()
    parsed.feed(written["page"])
    assert parsed.tables == [len(MODELS)] * len(written["boards"])
    n_plots = sum(len(p) for p in written["plots"].values())
    assert len(parsed.imgs) == n_plots
    assert all(i["src"].startswith("data:image/png;base64,") and i["alt"] for i in parsed.imgs)
    assert all(u.startswith(("data:", "#")) for u in parsed.urls)
    without_data = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", written["page"])
    for needle in ("http://", "https://", 'src="/', "<pop>", "<leaderboard>"):
        assert needle not in without_data
    assert "MostPop &lt;pop&gt;" in written["page"]


def test_html_content(written):
    page, (first, second) = written["page"], written["boards"]
    for board in (first, second):
        assert f'<section id="{board.slug}">' in page
    assert '<td data-sort="0.4" class="best"><strong>0.4000 ± 0.0100</strong></td>' in page
    assert "<strong>0.3200 ± 0.0150</strong>" in page  # best recall is ItemKNN
    assert page.count("Holm–Bonferroni") == 1  # the legend: first board only
    assert "No significance tests: no per-user artifacts." in page
    assert "<code>recbench run -m model=ease seed=0,1,2</code>" in page
    assert "20 trials (tpe)" in page and "fedcba098765" in page


# ---------------------------------------------------------------------------- browser
def _launch(playwright):
    """Debian's headless Chromium; missing pieces fail the test (they are dependencies)."""
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("chromium is not installed (apt-get install chromium): the HTML report "
                    "is tested in a real browser")
    return playwright.chromium.launch(executable_path=exe,
                                      args=["--no-sandbox", "--disable-gpu"])


def _models(page, section: str) -> list[str]:
    return page.locator(f"#{section} table.leaderboard tbody tr td:first-child").all_inner_texts()


def test_html_in_browser(written):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the python package playwright is not installed (make install): the "
                    "HTML report is tested in a real browser")
    slug = written["boards"][0].slug
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page()
            requests, errors = [], []
            page.on("request", lambda r: requests.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(written["path"].as_uri())
            rows = page.locator(f"#{slug} table.leaderboard tbody tr")
            assert rows.count() == len(MODELS)
            assert all(rows.nth(i).is_visible() for i in range(len(MODELS)))
            widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
            assert len(widths) == 5 and all(w > 0 for w in widths)

            header = page.locator(f"#{slug} table.leaderboard th", has_text="NDCG@10")
            assert _models(page, slug) == MODELS  # as built: best NDCG first
            header.click()
            assert header.get_attribute("aria-sort") == "ascending"
            assert _models(page, slug) == MODELS[::-1]
            header.click()
            assert header.get_attribute("aria-sort") == "descending"
            assert _models(page, slug) == MODELS
            page.locator(f"#{slug} table.leaderboard th", has_text="Model").click()
            assert _models(page, slug) == sorted(MODELS)
            assert header.get_attribute("aria-sort") is None
        finally:
            browser.close()
    assert not errors
    assert all(u.startswith(("file:", "data:")) for u in requests)
