//! The table `repro all` ends with: for each reproduction, whether its symptom and its finding
//! showed with the bug on, and whether both were gone after the fix.

use std::fmt::Write as _;

/// One reproduction's outcome.
pub(super) struct Row {
    pub(super) name: &'static str,
    pub(super) symptom_with_bug: bool,
    /// What had to name the bug (a finding's id, "refusal", or None for an error of data), and
    /// whether it did with the bug and still did after the fix.
    pub(super) named_by: Option<String>,
    pub(super) named_with_bug: bool,
    pub(super) symptom_fixed: bool,
    pub(super) named_fixed: bool,
}

impl Row {
    pub(super) fn reproduced(&self) -> bool {
        self.symptom_with_bug
            && !self.symptom_fixed
            && (self.named_by.is_none() || (self.named_with_bug && !self.named_fixed))
    }
}

pub(super) fn render(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<18} {:<20} {:<32} {:<15} {:<14} {}\n",
        "case", "symptom with bug", "finding with bug", "symptom fixed", "finding fixed", "verdict"
    );
    for r in rows {
        let (finding, finding_fixed) = match &r.named_by {
            None => ("(an error of data)".to_owned(), "-"),
            Some(by) => (
                format!(
                    "{by} {}",
                    if r.named_with_bug {
                        "found"
                    } else {
                        "NOT found"
                    }
                ),
                if r.named_fixed {
                    "STILL found"
                } else {
                    "absent"
                },
            ),
        };
        let _ = writeln!(
            out,
            "{:<18} {:<20} {:<32} {:<15} {:<14} {}",
            r.name,
            if r.symptom_with_bug {
                "shown"
            } else {
                "NOT shown"
            },
            finding,
            if r.symptom_fixed {
                "STILL there"
            } else {
                "gone"
            },
            finding_fixed,
            if r.reproduced() {
                "reproduced"
            } else {
                "NOT reproduced"
            }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_reproduced_only_when_all_four_hold() {
        let good = Row {
            name: "n-plus-one",
            symptom_with_bug: true,
            named_by: Some("n-plus-one".into()),
            named_with_bug: true,
            symptom_fixed: false,
            named_fixed: false,
        };
        assert!(good.reproduced());
        let still = Row {
            named_fixed: true,
            ..good
        };
        assert!(!still.reproduced());
        let table = render(&[still]);
        assert!(table.lines().next().unwrap().starts_with("case "));
        assert!(table.contains("n-plus-one found"), "{table}");
        assert!(table.contains("STILL found"), "{table}");
        assert!(table.trim_end().ends_with("NOT reproduced"), "{table}");
    }
}
