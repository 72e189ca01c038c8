rule figure_paths:
    """GD and NGD paths of one seed over the loss contours of the experiment's target."""
    message:
        "figure {wildcards.figure}"
    input:
        unpack(figure_inputs),
    output:
        png=report("figures/{figure}.png", caption="../report/figure_paths.rst", category="4 · Blog figures"),
        pdf="figures/{figure}.pdf",
    params:
        spec=figure_params,
        preset=figure_size("paths"),
        rows=figure_rows,
        library=library("figure_paths.py"),
    log:
        "logs/figures/{figure}.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/figure_paths.py"


rule analysis_figures:
    """Convergence curves, learning-rate sensitivity and runtime ECDF of one experiment."""
    message:
        "convergence, lr-sensitivity and ECDF figures of {wildcards.experiment}"
    input:
        trajectories=lambda w: chart_files("runs", w.experiment),
        summaries=summary_files,
        stats="results/stats/{experiment}.csv",
        best_lr="results/stats/{experiment}_best_lr.csv",
    output:
        convergence_png=report(
            "figures/{experiment}_convergence.png",
            caption="../report/analysis.rst",
            category="3 · Experiments",
            subcategory="{experiment}",
        ),
        convergence_pdf="figures/{experiment}_convergence.pdf",
        sensitivity_png=report(
            "figures/{experiment}_lr_sensitivity.png",
            caption="../report/analysis.rst",
            category="3 · Experiments",
            subcategory="{experiment}",
        ),
        sensitivity_pdf="figures/{experiment}_lr_sensitivity.pdf",
        ecdf_png=report(
            "figures/{experiment}_ecdf.png",
            caption="../report/analysis.rst",
            category="3 · Experiments",
            subcategory="{experiment}",
        ),
        ecdf_pdf="figures/{experiment}_ecdf.pdf",
    params:
        steps=lambda w: PLAN.experiments[w.experiment].steps,
        main_tolerance=main_tolerance,
        panels=figure_size("panels"),
        single=figure_size("single"),
        rows=experiment_rows,
        library=library("analysis_figures.py"),
    log:
        "logs/figures/{experiment}_analysis.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/analysis_figures.py"


# One job per audited experiment for the audit's tables and its figure: both come from the same
# audit (`audit_row`, 0.2–0.3 s), and as two jobs each paid its own start (interpreter, Snakemake's
# script preamble, `ngbench.audit`'s imports) and computed the audit again. The figure's params
# (its size preset, the row it cites) rerun the tables too; they rewrite the same bytes.
rule invariance:
    """NGD and GD one step from the same start in every chart of the row: the spread against lr, as tables (with its fitted slope per method) and as a figure."""
    message:
        "invariance audit tables and figure of {wildcards.experiment}"
    output:
        spreads="results/stats/invariance/{experiment}.csv",
        slopes="results/stats/invariance/{experiment}_slopes.csv",
        slopes_markdown="results/tables/invariance/{experiment}_slopes.md",
        png=report(
            "figures/{experiment}_invariance.png",
            caption="../report/invariance.rst",
            category="3 · Experiments",
            subcategory="{experiment}",
        ),
        pdf="figures/{experiment}_invariance.pdf",
    params:
        row=invariance_row,
        preset=figure_size("single"),
        rows=experiment_rows,
        library=library("invariance.py"),
    log:
        "logs/invariance/{experiment}.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/invariance.py"


rule why_figure:
    """A swept row's why-figure: tuned iterations against the swept property, a line per method."""
    message:
        "why-figure of {wildcards.row}"
    input:
        sweep="results/stats/sweeps/{row}.csv",
        slopes="results/stats/sweeps/{row}_slopes.csv",
    output:
        png=report("figures/{row}_sweep.png", caption="../report/why.rst", category="2 · Why"),
        pdf="figures/{row}_sweep.pdf",
    params:
        preset=figure_size("panels"),
        library=library("why_figure.py"),
    log:
        "logs/why_figure/{row}.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/why_figure.py"


rule profile_figure:
    """Performance and data profiles of every method across every problem of the config."""
    message:
        "profile figure"
    input:
        profiles="results/stats/profiles.csv",
        data_profiles="results/stats/data_profiles.csv",
    output:
        png=report("figures/profiles.png", caption="../report/profiles.rst", category="2 · Why"),
        pdf="figures/profiles.pdf",
    params:
        preset=figure_size("panels"),
        library=library("profile_figure.py"),
    log:
        "logs/profile_figure.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/profile_figure.py"
