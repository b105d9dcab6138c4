//! The plans of the statements that took the database's time: at the end of a run, the monitor's
//! own connection asks PostgreSQL how it runs each of the top statements by total time, so a
//! sequential scan of a large table (a missing index) is named with the statement that does it.
//!
//! `pg_stat_statements` keeps statements with their constants as `$1`, `$2`: each is prepared
//! under `plan_cache_mode = force_generic_plan` and explained with NULL parameters, which shows
//! the plan the server uses for any value (PostgreSQL 12 and later; 16's `EXPLAIN (GENERIC_PLAN)`
//! does the same in one step). Nothing is executed: `EXPLAIN` without `ANALYZE` only plans.

use serde::Serialize;
use serde_json::Value;
use tokio_postgres::Client;

use super::postgres::Statement;

/// Statements explained at the end of a run, from the top by total time.
const EXPLAINED: usize = 5;

/// A sequential scan in a statement's plan.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct SeqScan {
    pub table: String,
    /// The table's rows as the planner knows them (`pg_class.reltuples`).
    pub table_rows: i64,
    /// The scan's filter, when it reads every row to keep a few.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

/// How PostgreSQL runs one of the run's top statements.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Plan {
    pub query: String,
    pub calls: u64,
    pub mean_ms: f64,
    /// This statement's share of all statements' time in the run, in percent.
    pub share_percent: f64,
    pub seq_scans: Vec<SeqScan>,
    /// The plan's node types, outermost first (`Limit > Sort > Seq Scan`).
    pub nodes: Vec<String>,
}

/// Explains the top statements by total time; a statement that cannot be prepared (a utility
/// statement, a text too long for pg_stat_statements to keep whole) is left out.
pub async fn explain_top(client: &Client, top: &[Statement], total_ms: f64) -> Vec<Plan> {
    if client
        .batch_execute("SET plan_cache_mode = force_generic_plan")
        .await
        .is_err()
    {
        return Vec::new();
    }
    let mut plans = Vec::new();
    for (i, s) in top.iter().take(EXPLAINED).enumerate() {
        if !is_plannable(&s.query) {
            continue;
        }
        match explain(client, i, &s.query).await {
            Ok(root) => {
                let mut seq_scans = Vec::new();
                let mut nodes = Vec::new();
                walk(&root, &mut nodes, &mut seq_scans);
                for scan in &mut seq_scans {
                    scan.table_rows = table_rows(client, &scan.table).await.unwrap_or(0);
                }
                plans.push(Plan {
                    query: s.query.clone(),
                    calls: s.calls,
                    mean_ms: s.mean_ms,
                    share_percent: if total_ms > 0.0 {
                        s.total_ms * 100.0 / total_ms
                    } else {
                        0.0
                    },
                    seq_scans,
                    nodes,
                });
            }
            Err(e) => tracing::debug!(error = %e, query = %s.query, "could not explain"),
        }
    }
    let _ = client.batch_execute("RESET plan_cache_mode").await;
    plans
}

fn is_plannable(query: &str) -> bool {
    let first = query
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    matches!(first.as_str(), "SELECT" | "WITH" | "UPDATE" | "DELETE")
}

/// The highest `$N` in a normalized statement: the parameters its PREPARE has.
fn parameters(query: &str) -> usize {
    let bytes = query.as_bytes();
    let mut highest = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'$' {
            let digits: String = query[i + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(n) = digits.parse::<usize>() {
                highest = highest.max(n);
            }
        }
    }
    highest
}

async fn explain(client: &Client, i: usize, query: &str) -> anyhow::Result<Value> {
    let name = format!("loadgen_explain_{i}");
    client
        .batch_execute(&format!("PREPARE {name} AS {query}"))
        .await?;
    let args = vec!["NULL"; parameters(query)].join(", ");
    let call = if args.is_empty() {
        name.clone()
    } else {
        format!("{name}({args})")
    };
    // UPDATE and DELETE are only planned: EXPLAIN without ANALYZE executes nothing.
    let rows = client
        .simple_query(&format!("EXPLAIN (FORMAT JSON) EXECUTE {call}"))
        .await;
    let _ = client.batch_execute(&format!("DEALLOCATE {name}")).await;
    let text = rows?
        .into_iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .ok_or_else(|| anyhow::anyhow!("EXPLAIN gave no plan"))?;
    let json: Value = serde_json::from_str(&text)?;
    json.get(0)
        .and_then(|p| p.get("Plan"))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("EXPLAIN's JSON has no Plan"))
}

fn walk(node: &Value, nodes: &mut Vec<String>, scans: &mut Vec<SeqScan>) {
    let kind = node.get("Node Type").and_then(Value::as_str).unwrap_or("?");
    nodes.push(kind.to_owned());
    if kind == "Seq Scan"
        && let Some(table) = node.get("Relation Name").and_then(Value::as_str)
    {
        scans.push(SeqScan {
            table: table.to_owned(),
            table_rows: 0,
            filter: node
                .get("Filter")
                .and_then(Value::as_str)
                .map(str::to_owned),
        });
    }
    for child in node
        .get("Plans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        walk(child, nodes, scans);
    }
}

async fn table_rows(client: &Client, table: &str) -> anyhow::Result<i64> {
    let row = client
        .query_one(
            "SELECT greatest(reltuples, 0)::int8 FROM pg_class WHERE relname = $1 \
             AND relkind IN ('r', 'p') ORDER BY relnamespace = 'public'::regnamespace DESC LIMIT 1",
            &[&table],
        )
        .await?;
    Ok(row.try_get(0)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_counted_by_the_highest_number() {
        assert_eq!(parameters("SELECT 1"), 0);
        assert_eq!(
            parameters("SELECT * FROM t WHERE a = $2 AND b = $10 LIMIT $1"),
            10
        );
    }

    #[test]
    fn a_plan_names_its_sequential_scans_with_their_filter() {
        let plan = serde_json::json!({
            "Node Type": "Limit",
            "Plans": [{"Node Type": "Sort", "Plans": [{
                "Node Type": "Seq Scan", "Relation Name": "orders_order",
                "Filter": "(user_id = $1)"
            }]}]
        });
        let (mut nodes, mut scans) = (Vec::new(), Vec::new());
        walk(&plan, &mut nodes, &mut scans);
        assert_eq!(nodes, ["Limit", "Sort", "Seq Scan"]);
        assert_eq!(scans[0].table, "orders_order");
        assert_eq!(scans[0].filter.as_deref(), Some("(user_id = $1)"));
        assert!(is_plannable("select id from t") && !is_plannable("BEGIN"));
    }
}
