# Two commands do all the set-up: `make run` and `make test`. Both create .venv when it is missing and
# install the project with torch pinned; installing again does nothing while the inputs are unchanged.
VENV  ?= .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SHELL := /bin/bash
export ABC3D_PROGRESS ?= 1

.PHONY: install run test test-nbs test-py test-hpc sync-check docs docs-outputs browser clean-data bench-data bad-input
install: $(STAMP)

$(STAMP): settings.ini setup.py pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -c constraints.txt torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/abc3d run

test: $(STAMP) test-nbs test-py

test-nbs: $(STAMP)
	ABC3D_PROGRESS=0 $(VENV)/bin/nbdev_test --n_workers 2

test-py: $(STAMP) browser
	ABC3D_PROGRESS=0 $(VENV)/bin/pytest -q -s tests --ignore=tests/hpc

# the job scripts of hpc/ through a real SLURM: brings up the local one (root and apt), then tests/hpc
test-hpc: $(STAMP)
	hpc/local/slurm.sh up
	@command -v shellcheck >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq --no-install-recommends shellcheck \
	  || { apt-get update -qq && apt-get install -y -qq --no-install-recommends shellcheck; }; }
	ABC3D_PROGRESS=0 $(VENV)/bin/pytest -q -s tests/hpc

# the documentation site, offline, following _quarto.yml (quarto render uses the same file where quarto exists)
docs: $(STAMP)
	$(VENV)/bin/abc3d docs

# the stored outputs (figures, tables) of the tutorials that run the whole chain, refreshed on fresh default data (~10 min)
DOCS_OUTPUTS := nbs/tutorials/getting_started.ipynb
docs-outputs: $(STAMP)
	$(PY) -c "import sys; from abc3d.tools.docs_outputs import refresh_outputs; [print(refresh_outputs(p)) for p in sys.argv[1:]]" $(DOCS_OUTPUTS)
	$(VENV)/bin/nbdev_clean

# headless Chromium (Debian package) and playwright-core (npm) for the browser tests
BROWSER_STAMP := tests/browser/node_modules/.installed
browser: $(BROWSER_STAMP)
$(BROWSER_STAMP): tests/browser/package.json tests/browser/package-lock.json
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } \
	  || echo "chromium could not be installed (needs root and apt): the browser tests will be skipped"
	cd tests/browser && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# fails when the library is out of sync with the notebooks, or a notebook is not clean
sync-check: $(STAMP) readme
	$(VENV)/bin/nbdev_export
	$(VENV)/bin/nbdev_clean
	@if [ -n "$$(git status --porcelain -- abc3d nbs README.md)" ]; then \
	  git status --porcelain -- abc3d nbs README.md; \
	  echo "abc3d/ is out of sync with nbs/ or a notebook is not clean: run nbdev_export and nbdev_clean, then commit"; exit 1; fi

# malformed arguments, files and stores across the commands: a table of what each printed and left behind
bad-input: $(STAMP)
	ABC3D_PROGRESS=0 $(PY) tests/badinput.py

bench-data: $(STAMP)
	$(VENV)/bin/abc3d bench data

# README.md is generated from nbs/index.ipynb
readme: $(STAMP)
	$(PY) -c "import nbformat; nb = nbformat.read('nbs/index.ipynb', 4); open('README.md', 'w').write('\n\n'.join(c.source if c.cell_type == 'markdown' else '\`\`\`python\n' + c.source + '\n\`\`\`' for c in nb.cells) + '\n')"
