//! ARCHITECTURE.md's invariants are checked, not hoped for: every bullet under `## Invariants`
//! ends with ``Held by: `test`, `test` `` naming the tests that hold it, and each name is a `fn`
//! of the workspace, so a test renamed or deleted without the map fails here.

use std::collections::BTreeSet;

const HELD_BY: &str = "Held by:";

/// The bullets of the `## Invariants` section, each joined into one line: `(line number of its
/// first line, text)`.
fn bullets(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("## ") {
            inside = line.trim() == "## Invariants";
            continue;
        }
        if !inside {
            continue;
        }
        if let Some(first) = line.strip_prefix("- ") {
            out.push((i + 1, first.trim().to_owned()));
        } else if line.starts_with("  ")
            && let Some((_, bullet)) = out.last_mut()
        {
            bullet.push(' ');
            bullet.push_str(line.trim());
        }
    }
    out
}

/// The test names a bullet's closing ``Held by: `a`, `b` `` gives, or why it gives none.
fn held_by(bullet: &str) -> Result<Vec<String>, String> {
    let Some(at) = bullet.rfind(HELD_BY) else {
        return Err(format!("it does not end with ``{HELD_BY} `test`, ...``"));
    };
    let names: Vec<String> = bullet[at + HELD_BY.len()..]
        .split(',')
        .map(str::trim)
        .map(|n| {
            n.strip_prefix('`')
                .and_then(|n| n.strip_suffix('`'))
                .filter(|n| {
                    !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
                .map(str::to_owned)
                .ok_or_else(|| {
                    format!("`{HELD_BY}` is followed by `{n}`, not a `test_name` in backticks")
                })
        })
        .collect::<Result<_, _>>()?;
    Ok(names)
}

/// Every name declared with `fn` in the workspace's sources.
fn functions(root: &std::path::Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for file in super::sources(root) {
        let text = std::fs::read_to_string(root.join(&file)).unwrap();
        for (at, _) in text.match_indices("fn ") {
            let free = text[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            let name: String = text[at + 3..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if free && !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

#[test]
fn every_invariant_names_the_tests_that_hold_it() {
    let root = super::root();
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let bullets = bullets(&text);
    assert!(
        !bullets.is_empty(),
        "ARCHITECTURE.md has no bullets under `## Invariants`"
    );
    let functions = functions(&root);
    let mut wrong = Vec::new();
    for (line, bullet) in &bullets {
        match held_by(bullet) {
            Err(why) => wrong.push(format!("ARCHITECTURE.md:{line}: {why}")),
            Ok(names) => {
                for name in names.iter().filter(|n| !functions.contains(*n)) {
                    wrong.push(format!(
                        "ARCHITECTURE.md:{line}: `{name}` is no `fn` of the workspace (renamed?)"
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "each invariant ends with ``{HELD_BY} `test_fn`, `other_test_fn` `` naming the tests \
         that hold it (write a tidy test in xtask/tests/tidy/ for one a reading of the sources \
         can check): {wrong:#?}"
    );
}

#[test]
fn the_invariant_reader_finds_each_bullets_tests() {
    let text = "# A\n\n## Invariants\n\n- One rule, on\n  two lines. Held by: `a_test`, `b_2`\n\
                - Another. Held by: `c`\n- None here.\n- Bad. Held by: a_test\n\n## Next\n\n\
                - Not an invariant.\n";
    let bullets = bullets(text);
    assert_eq!(bullets.len(), 4);
    assert_eq!(bullets[0].0, 5);
    assert_eq!(
        bullets[0].1,
        "One rule, on two lines. Held by: `a_test`, `b_2`"
    );
    assert_eq!(held_by(&bullets[0].1).unwrap(), ["a_test", "b_2"]);
    assert_eq!(held_by(&bullets[1].1).unwrap(), ["c"]);
    assert!(held_by(&bullets[2].1).is_err());
    assert!(held_by(&bullets[3].1).is_err());
    let names = functions(&super::root());
    assert!(names.contains("every_invariant_names_the_tests_that_hold_it"));
}
