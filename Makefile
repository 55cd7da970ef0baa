# The two commands: `make demo` (run it) and `make test` (check it). See README.md.
.PHONY: demo test bench data

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

# criterion benchmarks of the in-process hot paths; figures go into BENCHMARKS.md by hand.
bench:
	cargo bench -p gridwall-spatial

# Rebuild the Nantong demo dataset (needs Python 3 with data/requirements.txt).
data:
	python3 data/build_nantong.py
