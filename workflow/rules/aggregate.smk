rule aggregate:
    """Iteration counts, tuned learning rates and the paired NGD-vs-GD test from the run summaries."""
    input:
        summary_files,
    output:
        stats="results/stats/{experiment}.csv",
        markdown="results/tables/{experiment}.md",
        latex="results/tables/{experiment}.tex",
        best_lr="results/stats/{experiment}_best_lr.csv",
        best_lr_markdown="results/tables/{experiment}_best_lr.md",
        best_lr_latex="results/tables/{experiment}_best_lr.tex",
        paired="results/stats/{experiment}_paired.csv",
        paired_markdown="results/tables/{experiment}_paired.md",
        paired_latex="results/tables/{experiment}_paired.tex",
    params:
        main_tolerance=min(PLAN.tolerances),
        library=target_digest,
    log:
        "logs/aggregate/{experiment}.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/aggregate.py"
