# The two set-up commands (see README): `make demo` runs the main job, `make test` runs the tests.
# Each installs what it needs itself.
.PHONY: demo test bench

demo:
	bash scripts/bootstrap.sh
	.venv/bin/affectlab demo

test:
	bash scripts/system-deps.sh
	bash scripts/bootstrap.sh audio,video,asr,track,sweep,distributed,test
	.venv/bin/python -m pytest -n 2 --dist loadfile -q

bench:
	bash scripts/bootstrap.sh audio,video,asr,track,sweep,distributed,test
	.venv/bin/python benchmarks/bench_semeval.py
