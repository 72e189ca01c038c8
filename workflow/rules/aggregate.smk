rule aggregate:
    """Iteration counts per (parameterization, method, lr, tolerance) from the run summaries."""
    input:
        summary_files,
    output:
        stats="results/stats/{experiment}.csv",
        markdown="results/tables/{experiment}.md",
        latex="results/tables/{experiment}.tex",
    params:
        library=target_digest,
    log:
        "logs/aggregate/{experiment}.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/aggregate.py"
