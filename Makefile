# The two commands: `make demo` (provision, build, boot, smoke drill, tear down) and `make test`.
# Everything they need (Docker engine, debootstrap, the venv, the images) is provisioned here,
# idempotently.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test test-unit test-integration docker venv images images-docker bench bench-drills bench-boot bench-idle bench-stop bench-warmup bench-timescale soak lint lock clean gc docs

demo: docker venv
	$(BIN)/testbed demo

# Two lanes side by side (pytest-xdist, one cluster pool each): the CPU-bound upgrade drills
# beside drills that mostly wait on Airflow's timers (tests/integration/test_drills.py). Three
# lanes saturate both cores: an upgrade drill's timing then broke (measured, see
# docs/testing-and-benchmarks.md).
# No boot ahead on two lanes of two cores: the machine is CPU-bound there (83 % busy), so a
# boot beside a drill only moves CPU work, never removes it. Measured in a CI rehearsal with
# boot ahead working: the same pace after 28 min, the upgrade drills' lane ~14 % slower, and
# upgrade_local_kill failed (its one api-server took 36 s to come back instead of ~18 s, and the
# task with no retries failed meanwhile). `testbed run` of a pack on one lane keeps it (0.81x).
LANES := -n 2 --dist loadgroup --testbed-no-boot-ahead

# The Kubernetes node image (minutes of Go build) is not waited for: on a machine without it,
# the test session builds it in the background at low priority while the Docker tests run,
# and the Kubernetes drills (last) wait for it.

test: docker venv images-docker
	@$(BIN)/pytest $(LANES) $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit 5)"; rc=0; fi; exit $$rc

test-unit: venv
	$(BIN)/pytest -m "not integration" $(PYTEST_ARGS)

test-integration: docker venv images-docker
	$(BIN)/pytest $(LANES) -m integration $(PYTEST_ARGS)

docker:
	@scripts/provision-docker.sh

venv: $(STAMP)
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

# The Airflow versions the drill pack runs (the upgrade drills start from the older ones), and
# the Kubernetes node the backend: kubernetes drills run in (its commands built with Go).
DRILL_VERSIONS ?= 3.3.2 3.3.1 3.2.2 3.1.8 3.1.7
images: docker venv
	$(BIN)/testbed images build --kubernetes $(foreach v,$(DRILL_VERSIONS),--airflow-version $(v))

images-docker: docker venv
	$(BIN)/testbed images build $(foreach v,$(DRILL_VERSIONS),--airflow-version $(v))

# Boot to all-green beside its CPU floor and the Compose export's boot (one run), then the
# foundation: the migration shortcut, image rebuilds, memory.
bench: docker venv images
	$(BIN)/python benchmarks/bench_boot_cpu.py --rounds 3
	$(BIN)/python benchmarks/bench_boot.py

# The drill pack: each drill's wall time, the pack's, resets, detection delays (ROUNDS=3),
# at timescale 1.0 and compressed, side by side with the ratio. PACK=upgrades SCALES=1.0: the
# upgrade drills with their upgrade, migration, drain and API-gap times.
# CLUSTERS=2: the pack on two clusters side by side (testbed run --clusters).
# PACK=all SCALES=default AHEAD=on,off: the whole catalogue at each drill's own timescale, as
# `testbed run scenarios/*.yaml` runs it, with and without booting the next cluster ahead.
ROUNDS ?= 1
SCALES ?= 1.0,0.5
PACK ?= faults
CLUSTERS ?= 1
AHEAD ?= on
bench-drills: docker venv images
	$(BIN)/python benchmarks/bench_drills.py --rounds $(ROUNDS) --scales $(SCALES) --pack $(PACK) \
	  --clusters $(CLUSTERS) --ahead $(AHEAD)

# Where boot time and CPU go per node, and the testbed's boot beside the Compose export's.
bench-boot: docker venv images
	$(BIN)/python benchmarks/bench_boot_cpu.py --rounds $(ROUNDS)

# What an idle cluster and the observer's reads cost in CPU, each choice beside the other.
bench-idle: docker venv images
	$(BIN)/python benchmarks/bench_idle_cpu.py --rounds 3

# A downtime window's stops one by one against side by side; a config read with and without
# Airflow's initialization.
bench-stop: docker venv images
	$(BIN)/python benchmarks/bench_downtime_stop.py --rounds $(ROUNDS)

# The api-server's Execution API warmed at readiness against not: all-green, the first task.
bench-warmup: docker venv images
	$(BIN)/python benchmarks/bench_api_warmup.py --rounds $(ROUNDS)

# A soak: DURATION of seeded chaos under a workload, the runner's own CPU and memory sampled,
# a summary (counts, distributions) in the record's soak.json.
DURATION ?= 30m
SEED ?= 1
soak: docker venv images
	$(BIN)/testbed soak --duration $(DURATION) --seed $(SEED)

# How far compressed time goes: heartbeat ages and false flips per timescale (quiet drill).
bench-timescale: docker venv images
	$(BIN)/python benchmarks/bench_timescale.py --rounds $(ROUNDS) --scales 1.0,0.5,0.25

lint: venv
	$(BIN)/ruff check testbed tests benchmarks scenarios
	$(BIN)/ruff format --check testbed tests benchmarks scenarios

# Regenerate the Airflow lock files as each release's constraints pin them (resolved highest,
# cut at the release's date; testbed/images/lock.py says how). Needs PyPI.
AIRFLOW_VERSIONS ?= 3.1.7 3.1.8 3.2.2 3.3.1 3.3.2
lock: venv
	$(BIN)/python -m testbed.images.lock $(AIRFLOW_VERSIONS)

# The documentation site (docs/, mkdocs.yml) into site/: open site/index.html. The reference
# pages are generated from the code while it builds (docs/hooks/reference.py).
docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict -d site

gc: venv
	$(BIN)/testbed gc

clean: gc
	rm -rf $(VENV) .testbed
