rule figure_paths:
    """GD and NGD paths of one seed over the loss contours of the experiment's target."""
    input:
        unpack(figure_inputs),
    output:
        png="figures/{figure}.png",
        pdf="figures/{figure}.pdf",
    params:
        spec=figure_params,
        library=figure_digest,
    log:
        "logs/figures/{figure}.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/figure_paths.py"
