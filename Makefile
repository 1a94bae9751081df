# The two set-up commands (see README): `make demo` runs the main job, `make test` runs the tests.
# Each installs what it needs itself.
.PHONY: demo test lint bench

demo:
	bash scripts/bootstrap.sh
	.venv/bin/affectlab demo

test:
	bash scripts/system-deps.sh
	$(MAKE) lint
	.venv/bin/python -m pytest -n 2 --dist loadfile -q

# Style (ruff), the layers (import-linter contracts in pyproject.toml) and types (mypy): the
# configurations live in pyproject.toml; each must be clean for `make test` to go on to pytest.
lint:
	bash scripts/bootstrap.sh audio,video,expression,asr,track,sweep,distributed,test
	.venv/bin/ruff check src tests benchmarks
	.venv/bin/lint-imports
	.venv/bin/mypy src

bench:
	bash scripts/bootstrap.sh audio,video,expression,asr,track,sweep,distributed,test
	.venv/bin/python benchmarks/bench_semeval.py
