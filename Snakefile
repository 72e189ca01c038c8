# ngbench: config rows → grid cells → solver jobs writing parquet trajectories → convergence
# statistics and iteration-count tables → the blog figures.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


# On a cluster only the solvers are submitted; the rest is quick and runs where Snakemake runs.
localrules:
    all,
    results,
    aggregate,
    headline,
    why_tables,
    profiles,
    ledger,
    why_figure,
    profile_figure,
    wall_time_profiles,
    front_page,
    identities,
    figure_paths,
    analysis_figures,
    invariance,
    reference,


include: "workflow/rules/solve.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"


rule all:
    message:
        "every output of the config"
    input:
        results=result_files(),
        figures=expand("figures/{figure}.{ext}", figure=PLAN.figures, ext=["png", "pdf"]),
        analysis=analysis_figure_files(),
        costs=expand("results/costs/{experiment}.{ext}", experiment=PLAN.experiments, ext=["csv", "md"]),
        why=expand("figures/{row}_sweep.{ext}", row=PLAN.sweeps, ext=["png", "pdf"]),
        profiles=expand("figures/profiles.{ext}", ext=["png", "pdf"]),
        report_pages=report_page_files(),
        wall_time_profiles=expand("results/costs/profiles.{ext}", ext=["png", "pdf"]) + ["results/costs/profile_scores.md"],


rule results:
    """Solver files, statistics and tables (what benchmarks/ times); no figure but the invariance audit's,
    which its job draws from the audit it tabulates."""
    message:
        "every result file of the config"
    input:
        result_files(),
