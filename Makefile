# Developer and CI entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
COLLECTIONS := $(CURDIR)/.build/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/djangoops/gunicorn
SCENARIOS ?= default ssh facts rollback multi socket fleet tune

export PATH := $(BIN):$(PATH)
export CONTAINERS_CONF := $(CURDIR)/molecule/shared/containers.conf
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PYTHONPATH := $(COLLECTIONS)

.PHONY: help setup images lint sanity unit build molecule molecule-upgrade test demo demo-destroy docs bench-facts clean \
	bench bench-hosts bench-reload bench-bad-deploy bench-safety bench-fleet-hosts bench-fleet bench-destroy \
	bench-sizing

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

molecule-upgrade: ## Converge default with the collection at REF (default: main), then with this checkout: nothing may change
	scripts/molecule-upgrade.sh $(or $(REF),main)

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

# Load and deploy benchmarks on test hosts (not part of `make test`; docs/performance.md). The hosts
# stay up between targets; `make bench-destroy` removes them.
bench: bench-reload bench-bad-deploy bench-safety bench-fleet ## All the load and deploy benchmarks (about 1.5 h on a busy 2-core machine)

bench-hosts: setup ## Two test hosts with a network and wrk (molecule create/prepare/converge -s bench)
	molecule create -s bench
	molecule prepare -s bench
	molecule converge -s bench

bench-reload: bench-hosts ## Benchmark: latency and errors under load during 5 deploys (15-40 min)
	cd benchmarks && python reload_under_load.py --runs 5

bench-bad-deploy: bench-hosts ## Benchmark: failed requests and time to last-known-good per fault (10-20 min)
	cd benchmarks && python bad_deploy.py --runs 2

bench-safety: bench-hosts ## Benchmark: wall time of the role against a naive playbook (8-16 min)
	cd benchmarks && python safety_cost.py --runs 5 --profile

bench-fleet-hosts: setup ## Eight test hosts for bench-fleet (molecule create/prepare -s benchfleet)
	molecule create -s benchfleet
	molecule prepare -s benchfleet

bench-fleet: bench-fleet-hosts ## Benchmark: playbooks/deploy.yml on 1, 2, 4, 8 hosts (15-25 min)
	cd benchmarks && python fleet_scale.py --runs 2

bench-destroy: ## Remove the benchmarks' test hosts
	molecule destroy -s bench
	molecule destroy -s benchfleet

docs: ## Regenerate the variables table of docs/role.md from meta/argument_specs.yml
	python scripts/role_docs.py render

clean: ## Remove build outputs (keeps the venv and images)
	rm -rf .build/sanity .build/dist tests/output
