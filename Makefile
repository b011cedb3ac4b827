# tpm-hil: the two commands.
#   make demo   set up what is missing, then run the suites on a spawned swtpm
#   make test   set up what is missing, then run the project's own tests and the suites
# Also: make bench (benchmarks), make setup (set-up only), make clean.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tpm-hil-installed

# Debian packages the harness needs: swtpm and its tools (the default target),
# the TSS headers tpm2-pytss builds against, tpm2-tools (event logs), PostgreSQL
# (lab-wide store tests), Chromium and poppler (report rendering and its tests).
# Node.js and npm (Allure 3) come from Debian only where no npm is on PATH: a
# Node.js installed another way carries its own npm, which Debian's conflicts with.
APT_PACKAGES := swtpm swtpm-tools libtss2-dev pkg-config gcc python3-dev python3-venv \
	tpm2-tools postgresql chromium poppler-utils fonts-dejavu-core
NODE_PACKAGES := nodejs npm

.PHONY: setup sysdeps venv demo test bench clean

setup: sysdeps venv

sysdeps:
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing $(NODE_PACKAGES)"; \
	if [ -n "$$missing" ]; then \
		echo "set-up: installing Debian packages:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "set-up: run as root, or: sudo apt-get install -y$$missing" >&2; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "set-up: installing tpm-hil and its dependencies into $(VENV)"
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -e '.[all]'
	@if [ -x reports/install_allure.sh ]; then reports/install_allure.sh; fi
	@touch $(STAMP)

demo: setup
	$(BIN)/tpmhil run --tpm swtpm

# The whole suite (every marker) also runs on the virtual chips, which present the
# real parts (lean command sets, the parts' buffers, SPI and I2C bus code), and once
# more on a part set up as a lab leaves it: platform hierarchy disabled, hierarchy
# auth values set (given to the run through the environment), TPM_RC_RETRY injected.
# The functional suite runs over the ST33 on I2C and the CAN/serial gateway code.
CHIP_TARGETS := spi+sim://st33ktpm i2c+sim://slb9673
LAB_AUTH := a1b2c3d4
LAB_TARGET := i2c+sim://slb9673?platform=0&owner_auth=$(LAB_AUTH)&endorsement_auth=$(LAB_AUTH)&lockout_auth=$(LAB_AUTH)&faults=retry:0.05,seed:7
BUS_TARGETS := i2c+sim://st33ktpm can://virtual/ci can://virtual/ci?fd=1 serial+sim://?framing=cobs

test: setup
	$(BIN)/python -m pytest tests -q -p no:cacheprovider
	$(BIN)/python -m pytest suites --tpm swtpm -n 2 -q -p no:cacheprovider
	@for t in $(CHIP_TARGETS); do echo "== all suites on $$t"; \
		$(BIN)/python -m pytest suites --tpm "$$t" -q -p no:cacheprovider || exit 1; \
	done
	@echo "== all suites on a lab-set virtual SLB9673 (platform off, auth set, 5 % TPM_RC_RETRY)"
	@TPMHIL_OWNER_AUTH=hex:$(LAB_AUTH) TPMHIL_ENDORSEMENT_AUTH=hex:$(LAB_AUTH) \
		TPMHIL_LOCKOUT_AUTH=hex:$(LAB_AUTH) \
		$(BIN)/python -m pytest suites --tpm "$(LAB_TARGET)" -q -p no:cacheprovider
	@for t in $(BUS_TARGETS); do echo "== functional suite on $$t"; \
		$(BIN)/python -m pytest suites -m functional --tpm "$$t" -q -p no:cacheprovider || exit 1; \
	done

bench: setup
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) results .pytest_cache
