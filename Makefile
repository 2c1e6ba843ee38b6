# Two entry points for a fresh machine:
#   make run    set up and start the app (http://localhost:8501)
#   make test   set up and run the whole test suite
#   make test-browser   the browser tests (all files marked `browser`) five times in a row
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test test-browser setup setup-dev bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt $(BIN)/activate
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed
	@scripts/system_deps.sh

setup-dev: $(VENV)/.installed-dev
	@scripts/system_deps.sh --browser

run: setup
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.headless true

test: setup-dev
	$(BIN)/python -m pytest -q

# The real-browser tests five times in a row: a race shows up as one failure in five.
test-browser: setup-dev
	for run in 1 2 3 4 5; do $(BIN)/python -m pytest -q -m browser -p no:cacheprovider || exit 1; done

bench: setup
	$(BIN)/python benchmarks/inspect_speed.py
	$(BIN)/python benchmarks/analyze_speed.py
	$(BIN)/python benchmarks/startup_speed.py
	$(BIN)/python benchmarks/train_speed.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
