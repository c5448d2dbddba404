# The two commands: `make demo` and `make test`. Both set up everything they need.
PYTHON ?= python3
STAMP := .lagwatch/.installed

.PHONY: install devstack lint unit integration test demo bench down clean

$(STAMP): pyproject.toml
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev,otlp]'
	@mkdir -p $(dir $(STAMP)) && touch $(STAMP)

install: $(STAMP)

devstack: install
	devstack/up

lint: install
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy

unit: install
	$(PYTHON) -m pytest -q tests/unit

integration: devstack
	$(PYTHON) -m pytest -q tests/integration

test: devstack lint
	$(PYTHON) -m pytest -q -p no:cacheprovider tests

demo: devstack
	$(PYTHON) -m lagwatch demo $(DEMO_ARGS)

bench: devstack
	@for b in bench/*.py; do echo "# $$b"; $(PYTHON) $$b || exit $$?; done

down:
	devstack/down

clean:
	rm -rf .lagwatch build *.egg-info
