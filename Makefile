# daofu — two commands: `make demo` serves the demo, `make test` runs every check.
# Both set up what they need (Debian packages, virtualenv from uv.lock, local PostGIS)
# and skip what is already done.

SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS := .daofu/tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.8
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help demo test setup system venv db lint types layers pytest clean

help:
	@echo "make demo   set everything up and serve the demo (http://127.0.0.1:8000/)"
	@echo "make test   set everything up and run lint, types, layers contract and all tests"

system:
	@scripts/ensure-system-packages.sh

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

venv: $(UV)
	@$(UV) sync --frozen --quiet
	@echo "virtualenv $(VENV): in sync with uv.lock"

setup: system venv

db: setup
	$(BIN)/daofu db up
	$(BIN)/daofu db migrate
	$(BIN)/daofu data load
	$(BIN)/daofu roads import data/roads/nanjing_xinjiekou_highways.osm.pbf --city 320100
	$(BIN)/daofu roads hierarchies
	$(BIN)/daofu users demo

demo: db
	$(BIN)/daofu serve

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: venv
	$(BIN)/mypy

layers: venv
	$(BIN)/lint-imports

pytest: setup
	$(BIN)/pytest

test: setup lint types layers pytest

clean:
	-$(BIN)/daofu db down
	rm -rf .daofu $(VENV)
