rule reference:
    """f* of a target with no closed-form optimum: a stationarity-checked solve, once per experiment."""
    message:
        "reference solution (f*) of {wildcards.experiment}"
    output:
        "results/reference/{experiment}.json",
    params:
        target=target_spec,
        library=library("reference.py"),
    log:
        "logs/reference/{experiment}.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/reference.py"


rule solve:
    """Every method of one (experiment, parameterization), each method's learning rates × seeds as one array program."""
    message:
        "solve {wildcards.experiment}/{wildcards.parameterization}"
    input:
        unpack(solver_inputs),
    output:
        trajectories="results/runs/{experiment}/{parameterization}.parquet",
        summaries="results/summaries/{experiment}/{parameterization}.parquet",
        timing="results/timings/{experiment}/{parameterization}.json",
    params:
        chart=solver_params,
        library=library("solve.py"),
    log:
        "logs/solve/{experiment}/{parameterization}.log",
    group:
        "solve"
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/solve.py"
