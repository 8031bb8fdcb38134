# Two commands on a fresh machine:  `make run` (set up + index + chat UI)  and  `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE = 1
export GRADIO_ANALYTICS_ENABLED = False
export TOKENIZERS_PARALLELISM = false

.PHONY: install run test chromium eval bench clean

install: $(STAMP)

# llama-cpp-python compiles once (~5-8 min on 2 cores); pip caches the wheel for later venvs.
# It builds for this CPU (-march=native) minus AMX: AMX tiles crash llama.cpp on VMs whose kernel
# does not grant them (seen here as a segfault on the first prompt).
NO_AMX := $(if $(filter x86_64,$(shell uname -m)),-mno-amx-tile -mno-amx-int8 -mno-amx-bf16,)
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	CFLAGS="$(NO_AMX)" CXXFLAGS="$(NO_AMX)" $(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: install
	$(VENV)/bin/rag ingest
	$(VENV)/bin/rag ui

chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# the whole suite, then the eval's fast subset, which fails on a missed faithfulness threshold. A
# PostgreSQL + pgvector server runs on 127.0.0.1 for the suite (installed on first use, ~1 min) and
# is stopped afterwards, also when a test fails or the run is interrupted.
test: install chromium
	@bash -c 'trap "scripts/postgres.sh stop" EXIT; \
	  RAG_TEST_POSTGRES=$$(scripts/postgres.sh start) && export RAG_TEST_POSTGRES && $(PY) -m pytest'
	$(VENV)/bin/rag eval --out reports/eval

eval: install
	$(VENV)/bin/rag eval --full

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) index/CURRENT index/gen-* reports
