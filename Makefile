# KYC provider gateway. `make test` and `make build` work from a fresh clone: they create their own venvs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Lambda runs python3.13: find that interpreter (PATH first, then pyenv), never the machine's default python3.
# (pyenv's shim on PATH may exist yet refuse to run, so each candidate is tried.)
PYTHON313 ?= $(shell for c in $$(command -v python3.13) $$(ls -d $$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)/versions/3.13*/bin/python3.13 2>/dev/null | sort -rV) /usr/local/bin/python3.13 /usr/bin/python3.13; do \
  "$$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { echo "$$c"; break; }; done)
VENV := .venv
SAM_VENV := .venv-sam
RUNTIME_VENV := .venv-runtime
CHECKOV_VENV := .venv-checkov
PY := $(CURDIR)/$(VENV)/bin/python
SAM := SAM_CLI_TELEMETRY=0 PATH="$(dir $(PYTHON313)):$$PATH" $(SAM_VENV)/bin/sam
PIP_QUIET := --quiet --disable-pip-version-check
# Every requirements*.txt is a lock compiled by `make lock` from its .in file: exact versions, installed by hash.
PIP_INSTALL = bin/pip install $(PIP_QUIET) --require-hashes --no-deps -r

.PHONY: help check-python venv lock lint workflows validate checkov test test-fast mutation template openapi generate compatibility build dist deploy smoke run invoke bench bench-ab bench-copies redrive clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

check-python:
	@test -n "$(PYTHON313)" && "$(PYTHON313)" -c 'import sys; assert sys.version_info[:2] == (3, 13)' \
	  || { echo "Python 3.13 not found: put python3.13 on PATH or set PYTHON313=/path/to/python3.13" >&2; exit 1; }

$(VENV)/.installed: requirements-dev.txt | check-python
	rm -rf $(VENV)
	"$(PYTHON313)" -m venv $(VENV)
	$(VENV)/$(PIP_INSTALL) requirements-dev.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt | check-python
	rm -rf $(SAM_VENV)
	"$(PYTHON313)" -m venv $(SAM_VENV)
	$(SAM_VENV)/$(PIP_INSTALL) requirements-sam.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt | check-python
	rm -rf $(CHECKOV_VENV)
	"$(PYTHON313)" -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/$(PIP_INSTALL) requirements-checkov.txt
	touch $@

# Only what the layer ships (layers/gateway/requirements.txt), slimmed as make build slims it: cold starts are
# measured here.
$(RUNTIME_VENV)/.installed: layers/gateway/requirements.txt build_steps/slim_botocore.py layers/gateway/kyc_gateway/aws.py | check-python
	rm -rf $(RUNTIME_VENV)
	"$(PYTHON313)" -m venv $(RUNTIME_VENV)
	$(RUNTIME_VENV)/$(PIP_INSTALL) layers/gateway/requirements.txt
	"$(PYTHON313)" -m build_steps.slim_botocore "$$($(RUNTIME_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
	touch $@

venv: $(VENV)/.installed $(SAM_VENV)/.installed ## Create the project venv and the aws-sam-cli tool venv

# uv resolves for every platform (--universal) so the locks install on Lambda, Linux CI and developers' Macs alike.
UV_COMPILE := $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.13 --generate-hashes
lock: $(VENV)/.installed ## Re-resolve every lock (requirements*.txt) from its .in file; needs the package index
	$(UV_COMPILE) layers/gateway/requirements.in -o layers/gateway/requirements.txt
	$(UV_COMPILE) -c layers/gateway/requirements.txt requirements-dev.in -o requirements-dev.txt
	$(UV_COMPILE) requirements-sam.in -o requirements-sam.txt
	$(UV_COMPILE) requirements-checkov.in -o requirements-checkov.txt

lint: $(VENV)/.installed ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# actionlint's Linux distribution on PyPI is an sdist that downloads its binary from GitHub while installing:
# neither lockable by hash nor offline. The workflows get the schema check and zizmor's audits instead.
workflows: $(VENV)/.installed ## GitHub workflows: JSON-schema check (vendored schema) and zizmor's audits, offline
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	$(VENV)/bin/zizmor --offline --quiet .github/workflows .github/dependabot.yml

validate: $(SAM_VENV)/.installed ## sam validate --lint (cfn-lint) on template.yaml; cfn-lint on the CI deploy roles
	$(SAM) validate --lint
	$(SAM_VENV)/bin/cfn-lint docs/github-deploy-role.yaml

checkov: $(CHECKOV_VENV)/.installed ## checkov on template.yaml and the CI deploy roles: zero failed checks (skips on each resource)
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml -f template.yaml -f docs/github-deploy-role.yaml

test: lint workflows validate checkov ## Lint, check workflows and template (cfn-lint, checkov), run every test tier
	$(PY) -m pytest

test-fast: $(VENV)/.installed ## The unit tier only (no servers): seconds
	$(PY) -m pytest -m unit -n 0

mutation: $(VENV)/.installed ## mutmut over the layer, module by module (MODULES=http,providers.cdp for some): report in .mutation/
	$(PY) -m mutation $(if $(MODULES),--modules "$(MODULES)")

run: $(VENV)/.installed ## Serve the whole gateway on http://127.0.0.1:3000 (API_PORT) with emulated AWS and provider sandbox
	@exec $(PY) -m local.stack

invoke: $(VENV)/.installed ## Run one function on one event in-process: make invoke FUNCTION=<LogicalId> EVENT=events/<file>.json
	@test -n "$(FUNCTION)" -a -n "$(EVENT)" || { echo "usage: make invoke FUNCTION=<LogicalId> EVENT=events/<file>.json" >&2; exit 2; }
	@$(PY) -m local.invoke "$(FUNCTION)" "$(EVENT)"

bench: $(VENV)/.installed $(RUNTIME_VENV)/.installed ## Cold start vs floor and warm overhead; table + bench-results.json; exits 1 naming each goal missed
	$(PY) -m bench --runtime-python $(RUNTIME_VENV)/bin/python

bench-ab: $(VENV)/.installed $(RUNTIME_VENV)/.installed ## The warm measure of this checkout against BASE=<revision>, in alternating rounds: a change's cost, not the machine's hour
	@test -n "$(BASE)" || { echo "give BASE=<revision> (a commit, tag or branch) to compare with" >&2; exit 2; }
	$(PY) -m bench.ab --base "$(BASE)" --runtime-python $(RUNTIME_VENV)/bin/python

bench-copies: $(VENV)/.installed $(RUNTIME_VENV)/.installed ## What each hand-written copy of a Powertools utility (logs, claims, secrets) saves a cold start
	$(PY) -m bench.copies --runtime-python $(RUNTIME_VENV)/bin/python

redrive: $(VENV)/.installed ## Move every dead-lettered connectFi webhook back to its queue: make redrive ENV=dev|prod (the local stack: AWS_ENDPOINT_URL=http://127.0.0.1:4566 make redrive)
	$(PY) -m operations.redrive $(ENV)

template: $(VENV)/.installed ## Regenerate template.yaml from infrastructure/gateway.yaml and the registry of providers and functions
	$(PY) -m generators.template

openapi: $(VENV)/.installed ## Regenerate openapi.json from the template and the request models, then the client's models
	$(PY) -m generators.openapi
	$(PY) -m generators.client_models

generate: $(VENV)/.installed ## Every generated file after a registry change, in order: template.yaml, openapi.json and the client's models, events/env.json, local/secrets.local.json
	$(PY) -m generators.template
	$(PY) -m generators.openapi
	$(PY) -m generators.client_models
	$(PY) -m generators.sam_local_env
	$(PY) -m generators.local_secrets

compatibility: $(VENV)/.installed ## Fail when openapi.json breaks what the last release (v* tag; BEFORE=vX.Y.Z: the one before it) promised, unless the major version was raised
	$(PY) -m release.compatibility $(if $(BEFORE),--before $(BEFORE))

build: $(SAM_VENV)/.installed ## sam build with the python3.13 interpreter (artefacts in .aws-sam/build)
	$(SAM) build
	@# botocore's data for the services the gateway calls only: ~50 ms less CPU per cold start (build_steps/slim_botocore.py)
	"$(PYTHON313)" -m build_steps.slim_botocore .aws-sam/build/GatewayLayer/python
	@# Lambda's /opt and /var/task are read-only: bytecode not shipped is compiled again on every cold start
	"$(PYTHON313)" -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build
	"$(PYTHON313)" -m build_steps.verify_build

dist: $(VENV)/.installed ## After make build: a release's files in dist/ (client wheel and sdist, bundle, openapi.json, notes); TAG=vX.Y.Z checks the tag
	$(PY) -m release.artifacts $(if $(TAG),--tag "$(TAG)")

deploy: $(SAM_VENV)/.installed ## sam deploy what make build built: ENV=dev|prod (asks first) or ENV=ci-dev|ci-prod (no prompt)
	@test -n "$(ENV)" || { echo "usage: make deploy ENV=dev|prod|ci-dev|ci-prod (after make build)" >&2; exit 2; }
	@test -f .aws-sam/build/template.yaml || { echo "nothing built: run make build first" >&2; exit 2; }
	$(SAM) deploy --config-env "$(ENV)" --no-progressbar $(if $(CFN_ROLE_ARN),--role-arn "$(CFN_ROLE_ARN)")

smoke: $(VENV)/.installed ## Signed refusals of every route, a valid read per provider (smoke.toml): make smoke ENV=dev|prod|local
	@test -n "$(ENV)" || { echo "usage: make smoke ENV=dev|prod (AWS credentials of that account) or ENV=local (make run)" >&2; exit 2; }
	$(PY) -m operations.smoke "$(ENV)"

clean: ## Remove venvs and build output
	rm -rf $(VENV) $(SAM_VENV) $(RUNTIME_VENV) $(CHECKOV_VENV) .aws-sam .local-stack .mutation bench-results.json dist
