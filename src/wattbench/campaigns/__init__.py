"""Many runs from one command: benchmark, scaling, ensembles of runs, a batch over a models CSV. Each run is a Job
for an executor."""
