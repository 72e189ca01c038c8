rule aggregate:
    """Iteration counts, tuned learning rates and paired tests of NGD against each other method, from the run summaries."""
    message:
        "statistics and tables of {wildcards.experiment}"
    input:
        summary_files,
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


rule costs:
    """Wall time per run-step and to tolerance, from the solvers' timings: machine-dependent, not committed."""
    message:
        "costs of {wildcards.experiment}"
    input:
        summaries=summary_files,
        timings=lambda w: chart_files("timings", w.experiment),
    output:
        csv="results/costs/{experiment}.csv",
        markdown="results/costs/{experiment}.md",
    params:
        main_tolerance=main_tolerance,
        library=library("costs.py"),
    log:
        "logs/costs/{experiment}.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/costs.py"


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


rule experiment_page:
    """One experiment's Markdown tables as one HTML page of the report."""
    message:
        "report page of the tables of {wildcards.experiment}"
    input:
        # In reading order: the results in words, the tuned lrs, the paired tests, then every lr.
        claims="results/tables/{experiment}_claims.md",
        best_lr="results/tables/{experiment}_best_lr.md",
        paired="results/tables/{experiment}_paired.md",
        iterations="results/tables/{experiment}.md",
    output:
        report(
            "results/report/tables/{experiment}.html",
            caption="../report/experiment_page.rst",
            category="3 · Experiments",
            subcategory="{experiment}",
        ),
    params:
        library=library("experiment_page.py"),
    log:
        "logs/experiment_page/{experiment}.log",
    conda:
        "../envs/ngbench.yaml"
    script:
        "../scripts/experiment_page.py"


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
