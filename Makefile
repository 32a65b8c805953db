# Developer and CI entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
COLLECTIONS := $(CURDIR)/.build/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/djangoops/gunicorn
SCENARIOS ?= default facts rollback multi socket fleet tune

export PATH := $(BIN):$(PATH)
export CONTAINERS_CONF := $(CURDIR)/molecule/shared/containers.conf
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PYTHONPATH := $(COLLECTIONS)

.PHONY: help setup images lint sanity unit build molecule test demo demo-destroy docs bench-facts bench-sizing clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## Install the toolchain, the test-host images and the sample app's wheels
	scripts/bootstrap.sh
	mkdir -p $(dir $(COLLECTION_LINK))
	ln -sfn ../../../.. $(COLLECTION_LINK)
	scripts/wheelhouse.sh
	scripts/build-image.sh bookworm trixie

lint: ## yamllint, ansible-lint (profile production), defaults/argument_specs/docs agreement
	yamllint -s .
	ansible-lint
	antsibull-changelog lint
	python scripts/role_docs.py check

sanity: ## ansible-test sanity on a copy laid out as ansible_collections/djangoops/gunicorn
	scripts/sanity.sh

unit: ## Unit and property tests of the plugins
	python -m pytest tests/unit -q

build: ## Build the collection, install the tarball in a temp path, resolve it by FQCN
	scripts/build-check.sh

molecule: ## Molecule scenarios on real systemd test hosts (SCENARIOS="default ...", MOLECULE_JOBS=2)
	scripts/molecule-all.sh $(SCENARIOS)

test: setup lint sanity unit build molecule ## Everything CI runs

demo: setup ## Boot a systemd test host and deploy the sample app on it
	molecule converge -s demo
	scripts/demo-info.sh

demo-destroy: ## Remove the demo host
	molecule destroy -s demo

bench-facts: setup ## Benchmark: gunicorn_facts wall time per run (median of 20)
	python benchmarks/facts_speed.py --runs 20

bench-sizing: setup ## Benchmark: sweep worker configurations on a limited host vs gunicorn_facts and 2*CPU+1
	python benchmarks/sizing_sweep.py

docs: ## Regenerate the variables table of docs/role.md from meta/argument_specs.yml
	python scripts/role_docs.py render

clean: ## Remove build outputs (keeps the venv and images)
	rm -rf .build/sanity .build/dist tests/output
