rule reference:
    """f* of a target with no closed-form optimum: a stationarity-checked solve, once per experiment."""
    output:
        "results/reference/{experiment}.json",
    params:
        target=target_spec,
        library=target_digest,
    log:
        "logs/reference/{experiment}.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/reference.py"


rule solve:
    """Every learning rate × seed of one (experiment, parameterization, method) as one array program."""
    input:
        unpack(solver_inputs),
    output:
        trajectories="results/runs/{experiment}/{parameterization}/{method}.parquet",
        summaries="results/summaries/{experiment}/{parameterization}/{method}.parquet",
        timing="results/timings/{experiment}/{parameterization}/{method}.json",
    params:
        cell=solver_cell,
        library=target_digest,
    log:
        "logs/solve/{experiment}/{parameterization}/{method}.log",
    group:
        "solve"
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/solve.py"
