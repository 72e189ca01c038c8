# One job per experiment for everything made from its run summaries but the figures: the statistics
# and tables, the wall-time table, and the report page of the tables. They always ran together (each
# waits on the same solver files) and each is a fraction of a second of work; as three jobs, each
# paid ~0.25–0.7 s of CPU to start Python and import the library, more than their work.
rule aggregate:
    """Iteration counts, tuned learning rates and paired tests of NGD against each other method, from the run summaries; the wall-time table from the solvers' timings; the report page of the tables."""
    message:
        "statistics, tables, costs and report page of {wildcards.experiment}"
    input:
        summaries=summary_files,
        timings=lambda w: chart_files("timings", w.experiment),
    output:
        stats=report(
            "results/stats/{experiment}.csv",
            caption="../report/statistics.rst",
            category="3 · Experiments",
            subcategory="{experiment}",
        ),
        markdown="results/tables/{experiment}.md",
        latex="results/tables/{experiment}.tex",
        best_lr=report(
            "results/stats/{experiment}_best_lr.csv",
            caption="../report/statistics.rst",
            category="3 · Experiments",
            subcategory="{experiment}",
        ),
        best_lr_markdown="results/tables/{experiment}_best_lr.md",
        best_lr_latex="results/tables/{experiment}_best_lr.tex",
        paired=report(
            "results/stats/{experiment}_paired.csv",
            caption="../report/statistics.rst",
            category="3 · Experiments",
            subcategory="{experiment}",
        ),
        paired_markdown="results/tables/{experiment}_paired.md",
        paired_latex="results/tables/{experiment}_paired.tex",
        claims="results/tables/{experiment}_claims.md",
        # Machine-dependent, not committed.
        costs="results/costs/{experiment}.csv",
        costs_markdown="results/costs/{experiment}.md",
        page=report(
            "results/report/tables/{experiment}.html",
            caption="../report/experiment_page.rst",
            category="3 · Experiments",
            subcategory="{experiment}",
        ),
    params:
        main_tolerance=main_tolerance,
        tuning_rule=tuning_rule,
        library=library("aggregate.py"),
    log:
        "logs/aggregate/{experiment}.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/aggregate.py"


rule headline:
    """The results in words, every experiment's claims by name: the README's results block."""
    message:
        "headline table"
    input:
        claims_files,
    output:
        "results/tables/headline.md",
    params:
        library=library("headline.py"),
    log:
        "logs/headline.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/headline.py"


rule why_tables:
    """A swept row's why-tables: tuned iterations against the swept property, and their slopes."""
    message:
        "why-tables of {wildcards.row}"
    input:
        unpack(sweep_inputs),
    output:
        sweep="results/stats/sweeps/{row}.csv",
        slopes="results/stats/sweeps/{row}_slopes.csv",
        slopes_markdown="results/tables/sweeps/{row}_slopes.md",
        slopes_latex="results/tables/sweeps/{row}_slopes.tex",
    params:
        sweep=sweep_params,
        library=library("why_tables.py"),
    log:
        "logs/why_tables/{row}.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/why_tables.py"


rule profiles:
    """Performance and data profiles of every method across every (experiment, chart, seed) problem."""
    message:
        "performance and data profiles"
    input:
        unpack(all_summaries_and_best_lrs),
    output:
        profiles="results/stats/profiles.csv",
        data_profiles="results/stats/data_profiles.csv",
        scores="results/stats/profile_scores.csv",
        scores_markdown="results/tables/profile_scores.md",
        scores_latex="results/tables/profile_scores.tex",
    params:
        tolerances=main_tolerances,
        library=library("profiles.py"),
    log:
        "logs/profiles.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/profiles.py"


rule ledger:
    """Every literature claim of the config, checked against the tables it names."""
    message:
        "ledger of the config's claims"
    input:
        ledger_inputs,
    output:
        csv="results/stats/ledger.csv",
        markdown="results/tables/ledger.md",
    params:
        claims=ledger_params,
        library=library("ledger.py"),
    log:
        "logs/ledger.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/ledger.py"


rule wall_time_profiles:
    """Performance and data profiles on the wall-time axis, from the solvers' timings: machine-dependent, not committed."""
    message:
        "profiles and their figure on wall time (machine-dependent)"
    input:
        unpack(all_summaries_best_lrs_and_timings),
    output:
        profiles="results/costs/profiles.csv",
        data_profiles="results/costs/data_profiles.csv",
        scores="results/costs/profile_scores.csv",
        scores_markdown="results/costs/profile_scores.md",
        png=report("results/costs/profiles.png", caption="../report/wall_time_profiles.rst", category="2 · Why"),
        pdf="results/costs/profiles.pdf",
    params:
        tolerances=main_tolerances,
        preset=figure_size("panels"),
        library=library("wall_time_profiles.py"),
    log:
        "logs/wall_time_profiles.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/wall_time_profiles.py"


rule front_page:
    """The report's first page: the ledger, the profiles, the why-tables and figures, the headline."""
    message:
        "report first page, with its figures"
    input:
        unpack(front_page_inputs),
    output:
        report("results/report/front_page.html", caption="../report/front_page.rst", category="1 · The answer"),
    params:
        library=library("front_page.py"),
    log:
        "logs/front_page.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/front_page.py"


rule identities:
    """Exact identities between methods on the experiment's target (delta-method BLR = Newton), checked."""
    message:
        "exact identities on the target of {wildcards.experiment}"
    output:
        "results/stats/identities/{experiment}.csv",
    params:
        target=target_spec,
        library=library("identities.py"),
    log:
        "logs/identities/{experiment}.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/identities.py"
