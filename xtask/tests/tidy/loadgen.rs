//! loadgen's invariants a reading of the sources and `cargo metadata` can hold: TLS through
//! rustls with its provider named (no OpenSSL linked, no process-wide default), summary.json read
//! elsewhere only through `loadgen::summary::Summary`, and no lock shared on the request path.

use std::collections::{BTreeMap, VecDeque};

use super::rules::{code_lines, code_lines_with, is_test_file};

/// Crates that would bring OpenSSL (or the platform's TLS) into loadgen.
const OPENSSL_CRATES: [&str; 5] = [
    "openssl",
    "openssl-sys",
    "native-tls",
    "tokio-native-tls",
    "hyper-tls",
];

/// Top-level keys only a summary.json has: indexing a `Value` by one of them is reading a
/// summary around its type.
const SUMMARY_KEYS: [&str; 8] = [
    "aggregate",
    "meta",
    "findings",
    "thresholds",
    "stage_slos",
    "failure_band",
    "first_broken_stage",
    "schema_version",
];

/// From the resolved graph of `cargo metadata`: the way from `from` to every package it links
/// (normal and build dependencies; a test's are its own), as the chain of names that leads there.
fn linked(metadata: &serde_json::Value, from: &str) -> BTreeMap<String, Vec<String>> {
    let names: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: BTreeMap<&str, &serde_json::Value> = metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let start = names
        .iter()
        .find(|(_, name)| **name == from)
        .map(|(id, _)| *id)
        .unwrap_or_else(|| panic!("no package {from} in cargo metadata"));
    let mut ways = BTreeMap::from([(start, vec![from.to_owned()])]);
    let mut queue = VecDeque::from([start]);
    while let Some(id) = queue.pop_front() {
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let only_dev = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .all(|k| k["kind"].as_str() == Some("dev"));
            let pkg = dep["pkg"].as_str().unwrap();
            if only_dev || ways.contains_key(pkg) {
                continue;
            }
            let mut way = ways[id].clone();
            way.push(names[pkg].to_owned());
            ways.insert(pkg, way);
            queue.push_back(pkg);
        }
    }
    ways.into_values()
        .map(|way| (way.last().unwrap().clone(), way))
        .collect()
}

#[test]
fn loadgen_links_no_openssl_and_names_its_crypto_provider() {
    let metadata = super::cargo_metadata(true);
    let linked = linked(&metadata, "loadgen");
    assert!(
        linked.contains_key("rustls"),
        "loadgen no longer links rustls: update this test and ARCHITECTURE.md's invariant"
    );
    let openssl: Vec<String> = OPENSSL_CRATES
        .iter()
        .filter_map(|c| linked.get(*c))
        .map(|way| way.join(" -> "))
        .collect();
    assert!(
        openssl.is_empty(),
        "loadgen speaks TLS through rustls only; turn off the feature that brings OpenSSL in \
         (reqwest's `rustls-tls` and `default-features = false`, say): {openssl:#?}"
    );
    let root = super::root();
    let sources: Vec<_> = super::sources(&root)
        .into_iter()
        .filter(|f| f.starts_with("loadgen/src") && !is_test_file(f))
        .collect();
    let hits = code_lines_with(
        &root,
        &sources,
        &[
            "install_default(",
            "get_default(",
            "ClientConfig::builder()",
            "ServerConfig::builder()",
        ],
    );
    assert!(
        hits.is_empty(),
        "loadgen names its crypto provider (`builder_with_provider(ring::default_provider())`); \
         a process-wide default is a library's choice made for its callers: {hits:#?}"
    );
}

#[test]
fn the_link_reader_follows_normal_and_build_dependencies_not_dev_ones() {
    let kind = |k: Option<&str>| serde_json::json!({ "kind": k });
    let metadata = serde_json::json!({
        "packages": [
            {"id": "l", "name": "loadgen"}, {"id": "r", "name": "reqwest"},
            {"id": "n", "name": "native-tls"}, {"id": "o", "name": "openssl-sys"},
            {"id": "c", "name": "cc"}, {"id": "t", "name": "tempfile"},
        ],
        "resolve": {"nodes": [
            {"id": "l", "deps": [
                {"pkg": "r", "dep_kinds": [kind(None)]},
                {"pkg": "t", "dep_kinds": [kind(Some("dev"))]},
            ]},
            {"id": "r", "deps": [{"pkg": "n", "dep_kinds": [kind(None)]}]},
            {"id": "n", "deps": [{"pkg": "o", "dep_kinds": [kind(None)]}]},
            {"id": "o", "deps": [{"pkg": "c", "dep_kinds": [kind(Some("build"))]}]},
            {"id": "c", "deps": []},
            {"id": "t", "deps": []},
        ]},
    });
    let linked = linked(&metadata, "loadgen");
    assert_eq!(
        linked["openssl-sys"],
        ["loadgen", "reqwest", "native-tls", "openssl-sys"]
    );
    assert!(linked.contains_key("cc"));
    assert!(!linked.contains_key("tempfile"));
}

/// The summary keys `line` indexes a JSON value by: `["meta"]`, `.get("meta")`,
/// `.pointer("/meta...")`.
fn summary_keys_read(line: &str) -> Vec<&'static str> {
    SUMMARY_KEYS
        .into_iter()
        .filter(|key| {
            [
                format!("[\"{key}\"]"),
                format!(".get(\"{key}\")"),
                format!(".pointer(\"/{key}"),
            ]
            .iter()
            .any(|form| line.contains(form))
        })
        .collect()
}

#[test]
fn summary_json_is_read_only_through_the_summary_type() {
    let root = super::root();
    let mut hits = Vec::new();
    for file in super::sources(&root) {
        // loadgen owns the format, and its tests read the wire form on purpose; tidy's own
        // examples are not reads.
        if file.starts_with("loadgen") || file.starts_with("xtask/tests/tidy") {
            continue;
        }
        for (n, line) in code_lines(&root, &file) {
            let keys = summary_keys_read(&line);
            if !keys.is_empty() {
                hits.push(format!("{}:{n}: {keys:?}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "read summary.json with loadgen::summary::Summary::read and its fields (a renamed field \
         then fails to compile), not as a serde_json::Value: {hits:#?}"
    );
}

#[test]
fn the_summary_key_reader_knows_the_three_forms() {
    assert_eq!(
        summary_keys_read(r#"let n = s["aggregate"]["requests"];"#),
        ["aggregate"]
    );
    assert_eq!(
        summary_keys_read(r#"s.get("meta").and_then(|m| m.pointer("/findings/0"))"#),
        ["meta", "findings"]
    );
    assert!(summary_keys_read(r#"stats["endpoints"]["POST /confirm"]"#).is_empty());
}

#[test]
fn loadgen_shares_no_lock_outside_its_web_ui() {
    let root = super::root();
    let sources: Vec<_> = super::sources(&root)
        .into_iter()
        .filter(|f| {
            f.starts_with("loadgen/src") && !f.starts_with("loadgen/src/web") && !is_test_file(f)
        })
        .collect();
    let hits = code_lines_with(&root, &sources, &["Mutex", "RwLock"]);
    assert!(
        hits.is_empty(),
        "a user's request is one channel send to the aggregator, which alone owns the \
         histograms: no lock between users (the web UI's session, off the request path, is \
         the one place for one): {hits:#?}"
    );
}
