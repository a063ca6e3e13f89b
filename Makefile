# Two commands: `make run` (set up, index the sample corpus if needed, serve) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

TESSERACT_LANGS := eng spa por fra ara

.PHONY: install run index test bench clean ocr-tools

install: ocr-tools $(VENV)/.installed

# OCR of scanned PDF pages needs Tesseract and its language packs (Debian: installed here when missing).
ocr-tools:
	@missing=""; command -v tesseract >/dev/null 2>&1 || missing="tesseract-ocr"; \
	for l in $(TESSERACT_LANGS); do dpkg -s tesseract-ocr-$$l >/dev/null 2>&1 || missing="$$missing tesseract-ocr-$$l"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "note: OCR needs Tesseract with the $(TESSERACT_LANGS) language packs (missing:$$missing)."; \
	    echo "      Debian/Ubuntu: sudo apt-get install$$missing; macOS: brew install tesseract tesseract-lang."; \
	    echo "      Without it, scanned pages are reported as not indexed."; \
	  fi; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

index: install
	@test -f indexes/CURRENT || $(BIN)/pioc-search ingest corpus

run: index
	$(BIN)/uvicorn api:app --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/bench_core.py

clean:
	rm -rf indexes/* .pytest_cache
