# Developer and CI entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
COLLECTIONS := $(CURDIR)/.build/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/djangoops/gunicorn
# Longest first: two run at a time, so the short ones fill in at the end.
SCENARIOS ?= handover releases rollback tune fleet ssh badinput socket multi default facts
# The oldest supported controller (ansible-core 2.16), scripts/bootstrap-compat.sh.
COMPAT_VENV := .venv-compat

export PATH := $(BIN):$(PATH)
export CONTAINERS_CONF := $(CURDIR)/molecule/shared/containers.conf
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PYTHONPATH := $(COLLECTIONS)
# Everything Ansible, ansible-lint and Molecule keep (collections, tmp, Molecule's instance state)
# stays in the checkout: nothing lands in ~/.ansible/collections to shadow other installs.
export ANSIBLE_HOME := $(CURDIR)/.build/ansible-home

.PHONY: help setup images lint sanity unit build molecule molecule-upgrade test demo demo-destroy docs bench-facts \
	clean compat compat-setup docs-site ee check-home \
	bench bench-hosts bench-reload bench-bad-deploy bench-safety bench-fleet-hosts bench-fleet bench-destroy \
	bench-sizing bench-handover bench-handover-changes bench-handover-bad stack stack-hosts bench-db-budget

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## Install the toolchain, the test-host images and the sample app's wheels
	scripts/bootstrap.sh
	mkdir -p $(dir $(COLLECTION_LINK))
	ln -sfn ../../../.. $(COLLECTION_LINK)
	scripts/wheelhouse.sh
	scripts/build-image.sh bookworm trixie

lint: ## yamllint, ansible-lint (profile production), changelog, collection docs, defaults/argument_specs/docs agreement
	yamllint -s .
	ansible-lint
	antsibull-changelog lint
	antsibull-docs --config-file .config/antsibull-docs.cfg lint-collection-docs --plugin-docs $(COLLECTION_LINK)
	python scripts/role_docs.py check

sanity: ## ansible-test sanity on a copy laid out as ansible_collections/djangoops/gunicorn
	scripts/sanity.sh

unit: ## Unit and property tests of the plugins
	python -m pytest tests/unit -q

build: ## Build the collection, install the tarball in a temp path, resolve it by FQCN
	scripts/build-check.sh

molecule: ## Molecule scenarios on real systemd test hosts (SCENARIOS="default ...", MOLECULE_JOBS=2)
	scripts/molecule-all.sh $(SCENARIOS)

ee: ## Execution environments: introspect the built collection, render a build context (builds nothing)
	scripts/ee-check.sh

molecule-upgrade: ## Converge default with the collection at REF (default: main), then with this checkout: nothing may change
	scripts/molecule-upgrade.sh $(or $(REF),main)

docs-site: ## Docsite of the collection (modules, roles, filters, playbooks) with antsibull-docs into .build/docsite
	scripts/docs-site.sh

stack: setup ## Molecule scenario stack: PostgreSQL's budget and Nginx in front, 4 hosts (not in make test: about 26 min)
	scripts/molecule-all.sh stack

compat-setup: ## .venv-compat: ansible-core 2.16 (the oldest supported controller) on Python 3.12
	COMPAT_VENV=$(COMPAT_VENV) scripts/bootstrap-compat.sh

compat: setup compat-setup ## ansible-core 2.16: sanity, unit tests and Molecule scenario compat
	COMPAT_VENV=$(COMPAT_VENV) scripts/compat.sh

check-home: ## Fail if this collection was installed into ~/.ansible/collections
	scripts/check-home.sh

test: setup lint sanity unit build ee docs-site molecule compat check-home ## Everything CI runs

demo: setup ## Boot a systemd test host, deploy the sample app, print its URL (127.0.0.1:DEMO_PORT, default 18000)
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
bench: bench-reload bench-bad-deploy bench-handover bench-safety bench-fleet bench-db-budget ## All the load and deploy benchmarks (about 3.5 h on a busy 2-core machine)

bench-hosts: setup ## Two test hosts with a network, wrk and Nginx (molecule create/prepare/converge -s bench)
	molecule create -s bench
	molecule prepare -s bench
	molecule converge -s bench

bench-reload: bench-hosts ## Benchmark: latency and errors under load during 5 deploys, direct and through Nginx (30-80 min)
	cd benchmarks && python reload_under_load.py --runs 5
	cd benchmarks && python reload_under_load.py --runs 5 --proxy

bench-bad-deploy: bench-hosts ## Benchmark: failed requests and time to last-known-good per fault, direct and through Nginx (20-40 min)
	cd benchmarks && python bad_deploy.py --runs 2
	cd benchmarks && python bad_deploy.py --runs 2 --proxy

bench-handover: bench-handover-changes bench-handover-bad ## Benchmark: going live by hand-over (the two targets below, 60-90 min)

bench-handover-changes: bench-hosts ## Benchmark: every change kind by hand-over beside a no-change control and the previous HUP/restart, sync and gthread (5 rounds each, 40-70 min)
	cd benchmarks && python handover.py changes --runs 5 --worker-class sync --window 45
	cd benchmarks && python handover.py changes --runs 5 --worker-class gthread --window 45

bench-handover-bad: bench-hosts ## Benchmark: a bad release with the canary off beside the live master, and the bind-change gap (5 rounds each, 10-20 min)
	cd benchmarks && python handover.py bad --runs 5
	cd benchmarks && python handover.py bind --runs 5

bench-safety: bench-hosts ## Benchmark: wall time of the role against a naive playbook (8-16 min)
	cd benchmarks && python safety_cost.py --runs 5 --profile

bench-fleet-hosts: setup ## Eight test hosts for bench-fleet (molecule create/prepare -s benchfleet)
	molecule create -s benchfleet
	molecule prepare -s benchfleet

bench-fleet: bench-fleet-hosts ## Benchmark: playbooks/deploy.yml on 1, 2, 4, 8 hosts (15-25 min)
	cd benchmarks && python fleet_scale.py --runs 2

stack-hosts: setup ## PostgreSQL and three app hosts behind Nginx for bench-db-budget (molecule converge -s stack)
	molecule converge -s stack

bench-db-budget: stack-hosts ## Benchmark: PostgreSQL's connections and Nginx's 502/504 during 3-host rollouts (8-15 min)
	cd benchmarks && python db_budget_rollout.py --runs 3

bench-destroy: ## Remove the benchmarks' test hosts
	molecule destroy -s bench
	molecule destroy -s benchfleet
	molecule destroy -s stack

docs: ## Regenerate the variables table of docs/role.md from meta/argument_specs.yml
	python scripts/role_docs.py render

clean: ## Remove build outputs (keeps the venv and images)
	rm -rf .build/sanity .build/sanity-compat .build/dist .build/ee .build/docsite tests/output
