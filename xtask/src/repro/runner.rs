//! Running the reproductions: one template database per `repro` command, then each repro's two
//! runs (`observe`: with the bug, then with its fix), their symptoms and diagnosis judged by the
//! repro's own checks, the two runs compared, and one [`Row`] for the final table.

use std::path::{Path, PathBuf};

use anyhow::Context;
use fixtures::database::TemplateDatabase;
use fixtures::reconcile;
use fixtures::stack::Stack;
use loadgen::summary::Summary;

use super::catalogue::{Check, Diagnosis, Repro, describe};
use super::observe::observe;
use super::symptoms::{Symptom, has_finding, print_findings, squeeze};
use super::table::Row;

/// How one run ended: it ran its load, or it was refused before any (the shop would not start,
/// loadgen would not send).
pub(super) enum Outcome {
    Ran(Box<Observed>),
    Refused(String),
}

/// What one run left behind.
pub(super) struct Observed {
    pub(super) summary: Summary,
    /// Statements the shop ran in its database (pg_stat_statements), if the extension is there.
    pub(super) statements: Option<Statements>,
    pub(super) reconciliation: Option<Vec<reconcile::Check>>,
    pub(super) shop_log: String,
}

pub(super) struct Statements {
    pub(super) calls: u64,
    /// The most called statement and its calls.
    pub(super) top: Option<(String, u64)>,
}

pub(super) struct Binaries {
    pub(super) loadgen: PathBuf,
    pub(super) shop: PathBuf,
    pub(super) mock: PathBuf,
    /// PgBouncer's container image, for the variants that put it in front of the database.
    pub(super) pgbouncer_image: String,
}

/// Runs each repro; returns how each went.
pub(super) async fn run_all(
    chosen: &[&Repro],
    bins: &Binaries,
    stack: &Stack,
    report_dir: &Path,
) -> anyhow::Result<Vec<Row>> {
    let template =
        TemplateDatabase::create(stack.database_url(), "repro_template", |url| async move {
            fixtures::seed::migrate(&url).await?;
            let pool = fixtures::seed::pool(&url)?;
            // Logins stay cheap so a repro shows its own bug, not a PBKDF2 storm (`repro` is about
            // the fault; `phase` keeps Django's 1,000,000 iterations).
            let plan = fixtures::seed::SeedPlan {
                hash_iterations: 1000,
                ..fixtures::seed::SeedPlan::default()
            };
            fixtures::seed::seed(&pool, &plan).await?;
            pool.close();
            Ok::<(), anyhow::Error>(())
        })
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let mut rows = Vec::new();
    for repro in chosen {
        let dir = report_dir.join(repro.name);
        rows.push(run_one(repro, bins, stack, &template, &dir).await?);
    }
    Ok(rows)
}

/// The symptom of a run as its repro checks it.
fn symptom(check: Check, outcome: &Outcome) -> Symptom {
    match (check, outcome) {
        (Check::Run(check), Outcome::Ran(o)) => check(o),
        (Check::Run(_), Outcome::Refused(why)) => Symptom {
            present: false,
            lines: vec![format!("the run did not happen: {}", first_line(why))],
        },
        (Check::Refused(says), Outcome::Refused(why)) => Symptom {
            present: why.contains(says),
            lines: vec![format!("refused before any load: {}", first_line(why))],
        },
        (Check::Refused(_), Outcome::Ran(o)) => Symptom {
            present: false,
            lines: vec![format!(
                "the load ran: {} requests, {} failed",
                o.summary.aggregate.requests, o.summary.aggregate.failures
            )],
        },
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default().trim()
}

/// Whether what must name the bug does, in this run.
fn named(diagnosis: Diagnosis, outcome: &Outcome) -> bool {
    match (diagnosis, outcome) {
        (Diagnosis::Finding(id), Outcome::Ran(o)) => has_finding(o, id),
        (Diagnosis::Names(words), Outcome::Refused(why)) => words.iter().all(|w| why.contains(w)),
        _ => false,
    }
}

async fn run_one(
    repro: &Repro,
    bins: &Binaries,
    stack: &Stack,
    template: &TemplateDatabase,
    dir: &Path,
) -> anyhow::Result<Row> {
    println!("\n== repro {}: {} ==", repro.name, repro.error);
    println!("with the bug ({}):", describe(&repro.broken));
    let broken = observe(repro, &repro.broken, "with-bug", bins, stack, template, dir).await?;
    let before = symptom(repro.symptom, &broken);
    for line in &before.lines {
        println!(
            "  {} {line}",
            if before.present { "symptom:" } else { "(none)" }
        );
    }
    if let Outcome::Ran(o) = &broken {
        print_findings(&o.summary);
    }
    println!("cause: {}", squeeze(repro.cause));
    println!("fix:   {}", squeeze(repro.fix));
    println!(
        "after the fix ({}): {}",
        repro.fixed_how,
        describe(&repro.fixed)
    );
    let fixed = observe(repro, &repro.fixed, "fixed", bins, stack, template, dir).await?;
    let after = symptom(repro.symptom, &fixed);
    for line in &after.lines {
        println!(
            "  {} {line}",
            if after.present { "still:" } else { "gone:" }
        );
    }
    if let Outcome::Ran(o) = &fixed {
        print_findings(&o.summary);
    }
    if let (Outcome::Ran(b), Outcome::Ran(f)) = (&broken, &fixed) {
        compare_runs(&b.summary, &f.summary, dir)?;
    }
    let named_by = match repro.diagnosis {
        Diagnosis::Finding(id) => Some(format!("`{id}`")),
        Diagnosis::Names(_) => Some("the refusal".to_owned()),
        Diagnosis::None => None,
    };
    let (with, without) = (
        named(repro.diagnosis, &broken),
        named(repro.diagnosis, &fixed),
    );
    if let Some(by) = &named_by {
        println!(
            "diagnosis: {by} {} with the bug, {} after the fix",
            if with { "names it" } else { "does NOT name it" },
            if without { "STILL names it" } else { "absent" }
        );
    }
    let row = Row {
        name: repro.name,
        symptom_with_bug: before.present,
        named_by,
        named_with_bug: with,
        symptom_fixed: after.present,
        named_fixed: without,
    };
    println!(
        "{}",
        match (before.present, after.present) {
            (true, false) if row.reproduced() =>
                "reproduced: the symptom appears with the bug and is gone after the fix",
            (true, false) => "NOT reproduced: the diagnosis did not name the bug",
            (false, _) => "NOT reproduced: the bug did not show its symptom",
            (true, true) => "NOT reproduced: the symptom stayed after the fix",
        }
    );
    Ok(row)
}

/// The two runs through `loadgen compare`: every figure on `compare.html` in the reproduction's
/// directory, and on the console what changed beyond the noise, with statements per request.
fn compare_runs(broken: &Summary, fixed: &Summary, dir: &Path) -> anyhow::Result<()> {
    use loadgen::compare::{self, Judgement, Metric, render};
    let c = compare::compare(broken, "with the bug", fixed, "fixed", 5.0);
    let page = dir.join("compare.html");
    std::fs::write(&page, compare::html::render(&c, &[], broken, fixed))
        .with_context(|| format!("writing {}", page.display()))?;
    for row in c.rows.iter().filter(|r| {
        matches!(r.judgement, Judgement::Regressed | Judgement::Improved)
            || r.metric == Metric::StatementsPerRequest
    }) {
        println!(
            "  compared: {} {}: {} -> {} ({}, {})",
            row.subject,
            row.metric.as_str(),
            render::value(row.base, row.metric),
            render::value(row.new, row.metric),
            render::change(row),
            render::verdict(row)
        );
    }
    println!("  comparison: {}", page.display());
    Ok(())
}
