# tomcat-bench: `make bench PROFILE=best-practice` and `make test` are the two commands.
PROFILE  ?= best-practice
DURATION ?= 60
USERS    ?= 20
LB       ?= nginx-rr
SESSIONS ?= redis
PY       := .venv/bin/python
# NODES=N: the lab's Tomcat nodes (1 to 8), for every command below.
ifdef NODES
export TOMCAT_BENCH_NODES := $(NODES)
endif

.PHONY: testbed testbed-down schemas setup bench storebench profiles webui matrix capacity perf timing tls scale compare ci-bench lab-up lab-status lab-down report test lint unit integration

setup:
	@scripts/setup

bench: setup
	$(PY) -m harness bench --profile $(PROFILE) --duration $(DURATION) --users $(USERS) \
		--balancer $(LB) --sessions $(SESSIONS) $(if $(FAULTS),--faults $(FAULTS)) \
		$(if $(ARRIVAL_RATE),--arrival-rate $(ARRIVAL_RATE)) \
		$(if $(CHECKS),--check "$(CHECKS)") $(if $(JUNIT),--junit $(JUNIT)) \
		$(if $(REPEAT),--repeat $(REPEAT)) $(if $(INVENTORY),--inventory $(INVENTORY)) \
		$(if $(SCENARIO),--scenario $(SCENARIO)) $(if $(YES),--yes)

# One short bench per profile, side by side (no fault unless FAULTS=... is given).
PROFILES ?= default best-practice small-pool
profiles: setup
	$(PY) -m harness profiles $(PROFILES) --duration $(DURATION) --users $(USERS) \
		--balancer $(LB) --sessions $(SESSIONS) $(if $(FAULTS),--faults $(FAULTS))

# The lab plus Locust's web UI with its Sessions tab (WORKERS=N: a master and N workers);
# Ctrl-C stops everything and writes the results.
WORKERS ?= 0
webui: setup
	$(PY) -m harness webui --profile $(PROFILE) --users $(USERS) --workers $(WORKERS) \
		--balancer $(LB) --sessions $(SESSIONS)

# How much the profile serves: wrk + session.lua, a sweep of connections (and fixed rates).
CONNECTIONS ?= 8,32,128,512
capacity: setup
	$(PY) -m harness capacity --profile $(PROFILE) --balancer $(LB) --sessions $(SESSIONS) \
		--connections $(CONNECTIONS) $(if $(RATES),--rates $(RATES))

# The kept benchmark of the load generators themselves (wrk, capacity mode, Locust).
perf: setup
	$(PY) -m harness perf --profile $(PROFILE) $(if $(PERF_SCENARIOS),--scenarios $(PERF_SCENARIOS))

# The kept benchmark of the wait for a verdict: lab up per store, bench overhead, report
# and compare times at 1M and 10M requests, beside the last run's (~10 min).
timing: setup
	$(PY) -m harness timing

# What HTTPS costs at the balancer: plain HTTP against TLS kept alive, full handshakes
# and resumed sessions, side by side on nginx and haproxy (profiles/tls.toml; ~2 min).
tls: setup
	$(PY) -m harness tls

# How each session strategy's memory, traffic and CPU grow with 2, 4, 6 and 8 nodes,
# and the guide's scale claims judged (~10 min).
scale: setup
	$(PY) -m harness scale --profile $(PROFILE)

# A short bench per balancer x session strategy (default: all of them, with a node kill).
MATRIX_LB       ?= all
MATRIX_SESSIONS ?= all
matrix: setup
	$(PY) -m harness matrix --profile $(PROFILE) --balancers $(MATRIX_LB) \
		--strategies $(MATRIX_SESSIONS) $(if $(INVENTORY),--inventory $(INVENTORY)) \
		$(if $(MATRIX_SCENARIOS),--scenarios $(MATRIX_SCENARIOS)) $(if $(YES),--yes)

# A cluster of network namespaces with their own sshd (as the tests build it), for
# bench --inventory .testbed/inventory.toml by hand; testbed-down removes all of it.
testbed: setup
	$(PY) -m tests.testbed up .testbed
	$(PY) -m harness probe install --inventory .testbed/inventory.toml

testbed-down:
	$(PY) -m tests.testbed down .testbed

# Redis against Memcached: raw cells, native tools, memory, restarts, end to end (~8 min).
# Options as TOMCAT_BENCH_<OPTION> variables; see python -m harness storebench --help.
storebench: setup
	$(PY) -m harness storebench

lab-up: setup
	$(PY) -m harness lab up --profile $(PROFILE) --balancer $(LB) --sessions $(SESSIONS)

lab-status:
	$(PY) -m harness lab status

lab-down:
	$(PY) -m harness lab down

report:
	@test -n "$(RUN)" || { echo "usage: make report RUN=results/<run-id>"; exit 2; }
	$(PY) -m harness report $(RUN)

compare:
	@test -n "$(BASE)" -a -n "$(HEAD)" || { echo "usage: make compare BASE=results/<run> HEAD=results/<run>"; exit 2; }
	$(PY) -m harness compare $(BASE) $(HEAD) $(if $(THRESHOLDS),--thresholds $(THRESHOLDS))

# The CI gate: a 20 s smoke bench compared with results/baselines/smoke (see scripts/ci-bench).
ci-bench: setup
	@scripts/ci-bench

# The JSON Schema of every results document, from harness/results/models.py.
schemas: setup
	$(PY) -c 'from pathlib import Path; from harness.results.models import write_schemas; write_schemas(Path("docs/schema"))'

lint: setup
	$(PY) -m ruff check harness locustfiles tests
	$(PY) -m ruff format --check harness locustfiles tests
	$(PY) -m mypy

unit: setup
	$(PY) -m pytest tests/unit

integration: setup
	$(PY) -m pytest tests/integration

test: lint
	$(PY) -m pytest
