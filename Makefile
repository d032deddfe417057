# recbench — every target installs what it needs from nothing (a venv, pinned deps).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: install browser postgres slurm test-slurm run test test-all leaderboard leaderboard-ctr studies zoo recbole ui screenshot bench bench-large bench-ctr bench-gpu test-gpu clean bench-scale

install: $(STAMP)

# torch goes first, pinned to the CPU build: an unpinned torch would pull gigabytes of CUDA.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/recbench run -m experiment=ml100k_baselines
	$(BIN)/recbench leaderboard ml100k_baselines

# Debian's chromium for the browser tests of the leaderboard HTML page (playwright drives it)
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Debian's PostgreSQL for the shared-store tests (tests/postgres.py starts a throw-away
# server on 127.0.0.1 at a free port; nothing runs as a service)
postgres:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# two workers, one test file at a time each (module fixtures such as the PostgreSQL server
# start once); much of the suite waits on subprocesses, so two overlap well on 2 cores.
# One torch thread per process: two workers with two threads each would oversubscribe.
test: $(STAMP) browser postgres
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile

# Debian's SLURM and munge for the scheduler test (tests/slurm.py starts a one-node
# cluster in a temp folder; daemons run as root, so this target needs root)
slurm:
	@command -v slurmctld >/dev/null 2>&1 && command -v munged >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null; }

test-slurm: $(STAMP) postgres slurm
	$(BIN)/python -m pytest -m slurm tests/test_slurm.py

test-all: $(STAMP) browser postgres slurm
	$(BIN)/python -m pytest -m ""

# The published MovieLens-100K leaderboard (experiments/ml100k_leaderboard.yaml): every
# model tuned with the same budget (20 TPE trials), then 5 seeds, under two protocols; then
# the same runs' NDCG@10 per user group (activity quartiles, gender) and the group gaps
SLICES = ndcg@10,ndcg@10.activity_q1,ndcg@10.activity_q2,ndcg@10.activity_q3,ndcg@10.activity_q4,ndcg@10.activity_gap,ndcg@10.gender_F,ndcg@10.gender_M,ndcg@10.gender_gap
leaderboard: $(STAMP)
	$(BIN)/recbench run -m experiment=ml100k_leaderboard split=random_ratio hparams_search=mostpop,itemknn,userknn,rp3beta,slim,ease,ials,bpr
	$(BIN)/recbench run -m experiment=ml100k_leaderboard split=leave_one_out hparams_search=mostpop,itemknn,userknn,rp3beta,slim,ease,ials,bpr
	$(BIN)/recbench leaderboard ml100k_leaderboard --group
	$(BIN)/recbench leaderboard ml100k_leaderboard --split random_ratio --name ml100k_slices \
	  --metrics $(SLICES)

# The CTR leaderboards (experiments/ml100k_ctr_leaderboard.yaml, synthetic_ctr.yaml): the
# seven BARS models, each tuned with the same budget on validation AUC, then 3 seeds (~1.5 h)
CTR_MODELS = lr,fm,deepfm,dcn,dcnv2,xdeepfm,autoint
leaderboard-ctr: $(STAMP)
	$(BIN)/recbench run -m experiment=ml100k_ctr_leaderboard hparams_search=$(CTR_MODELS)
	$(BIN)/recbench leaderboard ml100k_ctr_leaderboard
	$(BIN)/recbench run -m experiment=synthetic_ctr hparams_search=$(CTR_MODELS)
	$(BIN)/recbench leaderboard synthetic_ctr

# How far the leaderboards can be trusted (README "Studies"; needs `make leaderboard` first,
# ~1.5 h on 2 cores): a second board on MovieLens1M_m1, rank stability, the aggregate over
# both data sets, sampled vs full ranking, data-fraction learning curves.
TRUST_MODELS = mostpop,itemknn,userknn,rp3beta,ease,ials
studies: $(STAMP)
	$(BIN)/recbench run -m experiment=ml1m_m1_board hparams_search=$(TRUST_MODELS)
	$(BIN)/recbench leaderboard ml1m_m1_board
	$(BIN)/recbench leaderboard ml100k_leaderboard --group --stability
	$(BIN)/recbench leaderboard ml100k_leaderboard ml1m_m1_board --aggregate --name ml_aggregate
	$(BIN)/recbench study sampled-vs-full ml100k_leaderboard --group --n 50,100,500 --corrected
	$(BIN)/recbench study sampled-vs-full ml1m_m1_board --n 50,100,500 --corrected
	$(BIN)/recbench study data-fraction ml100k_leaderboard --split random_ratio

# The model zoo's reproductions of published numbers and fit times (results/zoo/; hours on CPU).
ZOO_EXPERIMENTS = zoo_ml100k repro_movielens1m_m1 repro_gowalla_m1 repro_beauty_s3rec
zoo: $(STAMP)
	$(BIN)/recbench run -m experiment=zoo_ml100k model=mostpop,itemknn,userknn,rp3beta,slim,ease,ials,bpr,neumf,multivae,lightgcn,simplex
	$(BIN)/recbench run -m experiment=zoo_ml100k split=leave_one_out model=gru4rec,sasrec,bert4rec trainer.patience=10 trainer.max_epochs=60
	$(BIN)/recbench run -m experiment=repro_movielens1m_m1 model=mostpop,itemknn,userknn,rp3beta,ease,ials,slim
	$(BIN)/recbench run -m experiment=repro_movielens1m_m1 model=bpr,multivae,neumf,simplex trainer.max_epochs=30
	$(BIN)/recbench run -m experiment=repro_movielens1m_m1 model=lightgcn trainer.max_epochs=20
	$(BIN)/recbench run -m experiment=repro_gowalla_m1 model=itemknn model.k=1000 model.shrink=100 split.valid_ratio=0
	$(BIN)/recbench run -m experiment=repro_gowalla_m1 model=ease model.l2=200 split.valid_ratio=0
	$(BIN)/recbench run -m experiment=repro_gowalla_m1 model=bpr model.optimizer.lr=0.005 trainer.max_epochs=40
	$(BIN)/recbench run -m experiment=repro_gowalla_m1 model=lightgcn trainer.max_epochs=2 trainer.valid_every=2
	$(BIN)/recbench run -m experiment=repro_beauty_s3rec model=sasrec model.max_len=20
	$(BIN)/recbench run -m experiment=repro_beauty_s3rec model=sasrec model.max_len=20 model.loss=bce trainer.max_epochs=40
	$(BIN)/recbench run -m experiment=repro_beauty_s3rec model=gru4rec model.max_len=20 trainer.max_epochs=16
	$(BIN)/recbench run -m experiment=repro_beauty_s3rec model=bert4rec model.max_len=20 trainer.max_epochs=16
	$(BIN)/recbench reproductions $(ZOO_EXPERIMENTS)

# RecBole's own models through the bridge, on the zoo's ml-100k protocol, and the leaderboard
# that puts them beside the native models (results/recbole_bridge_ml100k/)
RECBOLE_GENERAL = recbole/ease,recbole/itemknn,recbole/bpr,recbole/lightgcn,recbole/multivae,recbole/neumf
recbole: $(STAMP)
	$(BIN)/recbench run -m experiment=zoo_ml100k model=$(RECBOLE_GENERAL)
	$(BIN)/recbench run -m experiment=zoo_ml100k split=leave_one_out model=recbole/sasrec trainer.max_epochs=5 trainer.patience=10
	$(BIN)/recbench leaderboard zoo_ml100k --group --name recbole_bridge_ml100k \
	  --metrics ndcg@10,recall@10,mrr@10,hit@10,precision@10

ui: $(STAMP)
	$(BIN)/recbench ui

clean:
	rm -rf outputs multirun .pytest_cache

# Screenshots for the README: the MLflow UI and the published leaderboard page
screenshot: $(STAMP) browser
	$(BIN)/python docs/mlflow_screenshot.py
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1850,1400 \
	  --screenshot=docs/img/leaderboard-html.png \
	  "file://$(CURDIR)/results/ml100k_leaderboard/index.html" 2>/dev/null

# Benchmarks write their tables to results/bench/ (timings are not unit tests): evaluation
# time of metrics=full vs default (ml-100k, gowalla_m1), RecBole's beyond-accuracy metrics
# vs ours on the same lists, data loading; the recbench-vs-RecBole tables run one process
# per cell with 2 torch threads (~15 min in all)
bench: $(STAMP)
	$(BIN)/python benchmarks/metrics_bench.py
	$(BIN)/python benchmarks/recbole_metric_agreement.py
	$(BIN)/python benchmarks/data_bench.py
	$(BIN)/python benchmarks/recbole_bench.py ml-100k
	$(BIN)/python benchmarks/recbole_bench.py movielens1m_m1

# Gowalla (41k items): ~20 min
bench-large: $(STAMP)
	$(BIN)/python benchmarks/recbole_bench.py gowalla_m1

# Scaling (results/bench/scaling.md + .png): synthetic data in MovieLens-20M's shape with 1M,
# 5M and 20M interactions (generated once into .bench-data/, git-ignored): load + split (raw,
# cached), MostPop / ItemKNN / EASE fit, one MF-BPR epoch, one evaluation; time, peak RSS and
# growth exponents, one process per cell (~35 min on a quiet machine; peak RSS 7.3 GB)
bench-scale: $(STAMP)
	$(BIN)/python benchmarks/scale_bench.py

# recbench vs FuxiCTR 2.3.10 on ml-100k-ctr (results/bench/ctr.md). FuxiCTR gets its own
# venv: it needs ray[data] >= 2.52, RecBole (in ours) pins ray 2.6.3; polars 2 removed an
# argument FuxiCTR 2.3.10 passes (scan_csv dtypes)
FUXICTR := .bench-venvs/fuxictr
$(FUXICTR)/.installed:
	test -x $(FUXICTR)/bin/python || $(PYTHON) -m venv $(FUXICTR)
	$(FUXICTR)/bin/python -m pip --disable-pip-version-check -q install "torch==2.13.0" "fuxictr==2.3.10" "polars<2"
	touch $@

bench-ctr: $(STAMP) $(FUXICTR)/.installed
	$(BIN)/python benchmarks/ctr_parity.py

# On a CUDA machine (a venv whose torch is a CUDA build): gowalla_m1 MF-BPR and LightGCN
# epochs and the full evaluation, recbench and RecBole on the same GPU (results/bench/gpu.md);
# and the GPU path's tests (a model trained on the GPU is evaluated there)
bench-gpu: $(STAMP)
	$(BIN)/python benchmarks/gpu_bench.py

test-gpu: $(STAMP)
	$(BIN)/python -m pytest -m gpu tests/test_gpu.py
