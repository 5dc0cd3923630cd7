"""``python -m workload_predictor``: the ``workload-predictor`` command line (:mod:`workload_predictor.cli`)."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="workload-predictor")
