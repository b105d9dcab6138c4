//! The crates against ARCHITECTURE.md's layer table, read from `cargo metadata` (which reads the
//! manifests and builds nothing): every workspace crate has a row, every row a crate, and a crate's
//! normal and build dependencies on workspace crates are those its row allows, each on a lower
//! layer. Dev-dependencies are free: a test may start any server.

use std::collections::{BTreeMap, BTreeSet};

struct Row {
    layer: u32,
    allowed: BTreeSet<String>,
}

/// The table under `## Layers`: `| `crate` | N name | `a`, `b` |`.
fn table(text: &str) -> BTreeMap<String, Row> {
    let section = text
        .split("\n## ")
        .find(|s| s.starts_with("Layers"))
        .expect("ARCHITECTURE.md has a `## Layers` section");
    let mut rows = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert!(cells.len() >= 3, "a layer row has three cells: {line}");
        let name = cells[0].trim_matches('`').to_owned();
        let layer = cells[1]
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("`{name}`'s layer starts with its number: {line}"));
        let allowed = cells[2]
            .split(',')
            .map(|c| c.trim().trim_matches('`').to_owned())
            .filter(|c| !c.is_empty() && !c.starts_with('('))
            .collect();
        assert!(
            rows.insert(name.clone(), Row { layer, allowed }).is_none(),
            "`{name}` has two rows"
        );
    }
    rows
}

/// Each workspace crate with the workspace crates it depends on outside its tests.
fn crates() -> BTreeMap<String, BTreeSet<String>> {
    let metadata = super::cargo_metadata(false);
    let packages = metadata["packages"].as_array().unwrap();
    let ours: BTreeSet<&str> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].as_str() != Some("dev"))
                .map(|d| d["name"].as_str().unwrap())
                .filter(|d| ours.contains(d))
                .map(str::to_owned)
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

#[test]
fn every_crate_depends_only_on_what_the_layer_table_allows() {
    let text = std::fs::read_to_string(super::root().join("ARCHITECTURE.md")).unwrap();
    let rows = table(&text);
    let crates = crates();
    let unlisted: Vec<&String> = crates.keys().filter(|c| !rows.contains_key(*c)).collect();
    assert!(
        unlisted.is_empty(),
        "ARCHITECTURE.md's layer table has no row for {unlisted:?}"
    );
    let gone: Vec<&String> = rows.keys().filter(|r| !crates.contains_key(*r)).collect();
    assert!(
        gone.is_empty(),
        "the layer table names crates the workspace does not have: {gone:?}"
    );
    let mut wrong = Vec::new();
    for (name, deps) in &crates {
        let row = &rows[name];
        for dep in deps {
            if !row.allowed.contains(dep) {
                wrong.push(format!(
                    "{name} -> {dep}: not in its row of the layer table"
                ));
            }
        }
        for dep in &row.allowed {
            match rows.get(dep) {
                Some(below) if below.layer < row.layer => {}
                Some(below) => wrong.push(format!(
                    "{name} (layer {}) may use {dep} (layer {}): only lower layers",
                    row.layer, below.layer
                )),
                None => wrong.push(format!("{name}'s row allows {dep}, which has no row")),
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn the_layer_table_reader_reads_rows_and_skips_notes() {
    let rows = table(
        "# A\n\n## Layers\n\n| crate | layer | may use |\n| --- | --- | --- |\n\
         | `a` | 0 base | |\n| `b` | 2 app | `a`, (tests: anything) |\n\n## Next\n| `c` | 9 x | |\n",
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(rows["b"].layer, 2);
    assert_eq!(rows["b"].allowed, BTreeSet::from(["a".to_owned()]));
    assert!(rows["a"].allowed.is_empty());
}
