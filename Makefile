# Two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
DEMO_EMAIL    = demo@example.si
DEMO_PASSWORD = Demo-geslo-2026

.PHONY: run test test-fast bench lint translations install clean

$(BIN)/idp: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/idp translations

# Compiled catalogues are build products (not committed).
translations: $(BIN)/idp
	$(BIN)/pybabel compile -d idp/translations >/dev/null

## run: the IdP (http://localhost:5000) and the demo e-bank (http://localhost:5001) on the embedded defaults
run: install
	$(BIN)/idp init
	$(BIN)/idp users create --if-missing --email $(DEMO_EMAIL) --phone "041 123 123" \
		--given-name Ana --family-name Novak --password '$(DEMO_PASSWORD)'
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m clients.ebank.register
	$(BIN)/python tests/wallet_cli.py setup instance/wallet
	@echo
	@echo "  IdP:      http://localhost:5000"
	@echo "  E-banka:  http://localhost:5001"
	@echo "  Demo login: $(DEMO_EMAIL) / $(DEMO_PASSWORD)"
	@echo
	@# Ctrl-C: each server gets one SIGTERM and is waited for (not `kill 0`, which
	@# signals this shell too and re-runs the trap).
	@trap 'trap - INT TERM EXIT; kill $$idp $$ebank 2>/dev/null; wait' INT TERM EXIT; \
	IDP_PID_PROVIDERS_DIR=$(abspath instance/wallet/anchors) \
	IDP_VERIFIER_CERT_FILE=$(abspath instance/wallet/verifier.pem) \
	IDP_VERIFIER_KEY_FILE=$(abspath instance/wallet/verifier.key) \
	IDP_RESOURCES='["http://localhost:5001/api"]' \
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/idp serve --port 5000 & idp=$$!; \
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m clients.ebank --port 5001 & ebank=$$!; \
	wait

## test: the whole suite (SQLite + in-process, PostgreSQL + Redis, and the browser tests)
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## test-fast: everything but the browser tests
test-fast: install
	$(BIN)/python -m pytest -m "not browser" $(PYTEST_ARGS)

## bench: throughput of the hot endpoints against a bare Flask baseline, then side by
## side with node-oidc-provider on the embedded defaults and on PostgreSQL + Redis
## (needs wrk, node and npm)
bench: install
	$(BIN)/python tests/bench/run.py
	$(BIN)/python tests/bench/sidebyside.py

lint: install
	$(BIN)/python -m pyflakes idp clients tests
	$(BIN)/lint-imports  # the import contracts in .importlinter (tests/test_architecture.py runs it too)

clean:
	rm -rf $(VENV) instance *.egg-info
