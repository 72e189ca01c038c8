rule solve:
    """Every learning rate × seed of one (experiment, parameterization, method) as one array program."""
    output:
        trajectories="results/runs/{experiment}/{parameterization}/{method}.parquet",
        summaries="results/summaries/{experiment}/{parameterization}/{method}.parquet",
    params:
        cell=solver_cell,
        library=LIBRARY_DIGEST,
    log:
        "logs/solve/{experiment}/{parameterization}/{method}.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/solve.py"
