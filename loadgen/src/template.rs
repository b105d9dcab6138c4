//! Templates in scenario files: `"/api/products/{pick product_ids}/"`, `"load_test_user_{user_index mod
//! 1000}"`, JSON bodies whose strings hold placeholders. Compiled once when the scenario loads, so a
//! request renders without parsing anything.
//!
//! Placeholders: `{VAR}` (a variable: `[vars]`, `--var`, or a capture), `{user_index}`,
//! `{user_index mod N}`, `{iteration}`, `{rand A B}` (an integer in A..=B), `{pick VAR}` /
//! `{pick VAR N}` (a random element of a captured list, or of its first N), `{page COUNT LIST}`
//! (a random page number of a paginated list: COUNT items, LIST one page of them, as DRF's
//! `count` and `results`), `{uuid}`, `{timestamp}` (unix seconds). `{{` and `}}` are literal
//! braces.

use std::collections::HashMap;
use std::fmt::Write as _;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

/// What a render needs from the user running it.
pub struct Context<'a> {
    pub vars: &'a HashMap<String, Value>,
    pub user_index: u64,
    pub iteration: u64,
    pub rng: &'a mut ChaCha8Rng,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Var(String),
    UserIndex(Option<u64>),
    Iteration,
    Rand(i64, i64),
    Pick(String, Option<usize>),
    /// A page of a list of `.0` items shown `.1`'s length at a time.
    Page(String, String),
    Uuid,
    Timestamp,
}

/// A compiled string template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
    source: String,
}

/// A template error names the template and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("template {template:?}: {reason}")]
pub struct TemplateError {
    template: String,
    reason: String,
}

/// A variable a template uses is not set.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("variable {0:?} is not set (capture it first, or give it in [vars] or --var)")]
    Unset(String),
    #[error("{{pick {0}}}: the variable is not a non-empty list")]
    NotAList(String),
    #[error("{{page {0} {1}}}: {0} is not a count or {1} not a non-empty list")]
    NotAPage(String, String),
}

impl Template {
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let fail = |reason: String| TemplateError {
            template: source.to_owned(),
            reason,
        };
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = source.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(fail("a lone '}' (write '}}' for a literal brace)".into())),
                '{' => {
                    let mut inner = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => inner.push(c),
                            None => return Err(fail("a '{' is never closed".into())),
                        }
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(placeholder(&inner).map_err(fail)?);
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self {
            parts,
            source: source.to_owned(),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The variables this template reads.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts
            .iter()
            .flat_map(|p| match p {
                Part::Var(v) | Part::Pick(v, _) => [Some(v.as_str()), None],
                Part::Page(count, list) => [Some(count.as_str()), Some(list.as_str())],
                _ => [None, None],
            })
            .flatten()
    }

    /// Whether the value differs from one user to the next whatever the variables hold
    /// (`{user_index}`).
    pub fn reads_user_index(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::UserIndex(_)))
    }

    /// The stats name of a templated path: placeholders become `[name]`, as Locust users write
    /// `name="/api/products/[id]/"` by hand.
    pub fn display_name(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Var(v) | Part::Pick(v, _) => {
                    let _ = write!(out, "[{}]", v.strip_suffix('s').unwrap_or(v));
                }
                Part::UserIndex(_) => out.push_str("[user_index]"),
                Part::Iteration => out.push_str("[iteration]"),
                Part::Rand(..) => out.push_str("[id]"),
                Part::Page(..) => out.push_str("[page]"),
                Part::Uuid => out.push_str("[uuid]"),
                Part::Timestamp => out.push_str("[timestamp]"),
            }
        }
        out
    }

    /// Whether the template is one placeholder and nothing else (its JSON value is kept as is).
    fn single_value(&self) -> bool {
        self.parts.len() == 1 && !matches!(self.parts[0], Part::Literal(_))
    }

    pub fn render(&self, cx: &mut Context<'_>) -> Result<String, RenderError> {
        let mut out = String::with_capacity(self.source.len() + 16);
        for part in &self.parts {
            match value_of(part, cx)? {
                Value::String(s) => out.push_str(&s),
                other => {
                    let _ = write!(out, "{other}");
                }
            }
        }
        Ok(out)
    }

    /// Renders to a JSON value: a lone placeholder keeps its type (`"{price}"` stays a number).
    pub fn render_value(&self, cx: &mut Context<'_>) -> Result<Value, RenderError> {
        if self.single_value() {
            value_of(&self.parts[0], cx)
        } else {
            self.render(cx).map(Value::String)
        }
    }
}

fn placeholder(inner: &str) -> Result<Part, String> {
    let words: Vec<&str> = inner.split_whitespace().collect();
    let number = |w: &str| {
        w.parse::<i64>()
            .map_err(|_| format!("{{{inner}}}: {w:?} is not an integer"))
    };
    Ok(match words.as_slice() {
        [] => return Err("an empty placeholder '{}'".into()),
        ["user_index"] => Part::UserIndex(None),
        ["user_index", "mod", n] => {
            let n = number(n)?;
            if n <= 0 {
                return Err(format!("{{{inner}}}: the modulus must be positive"));
            }
            Part::UserIndex(Some(n as u64))
        }
        ["iteration"] => Part::Iteration,
        ["uuid"] => Part::Uuid,
        ["timestamp"] => Part::Timestamp,
        ["rand", a, b] => {
            let (a, b) = (number(a)?, number(b)?);
            if a > b {
                return Err(format!("{{{inner}}}: {a} is greater than {b}"));
            }
            Part::Rand(a, b)
        }
        ["pick", var] => Part::Pick((*var).to_owned(), None),
        ["page", count, list] => Part::Page((*count).to_owned(), (*list).to_owned()),
        ["pick", var, n] => {
            let n = number(n)?;
            if n <= 0 {
                return Err(format!("{{{inner}}}: the count must be positive"));
            }
            Part::Pick((*var).to_owned(), Some(n as usize))
        }
        [var] if var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            Part::Var((*var).to_owned())
        }
        _ => {
            return Err(format!(
                "unknown placeholder {{{inner}}} (known: a variable name, user_index, user_index mod N, \
                 iteration, rand A B, pick VAR [N], page COUNT LIST, uuid, timestamp)"
            ));
        }
    })
}

fn value_of(part: &Part, cx: &mut Context<'_>) -> Result<Value, RenderError> {
    Ok(match part {
        Part::Literal(s) => Value::String(s.clone()),
        Part::Var(v) => cx
            .vars
            .get(v)
            .cloned()
            .ok_or_else(|| RenderError::Unset(v.clone()))?,
        Part::UserIndex(None) => Value::from(cx.user_index),
        Part::UserIndex(Some(n)) => Value::from(cx.user_index % n),
        Part::Iteration => Value::from(cx.iteration),
        Part::Rand(a, b) => Value::from(cx.rng.random_range(*a..=*b)),
        Part::Pick(v, first) => {
            let list = match cx.vars.get(v) {
                Some(Value::Array(list)) if !list.is_empty() => list,
                Some(_) => return Err(RenderError::NotAList(v.clone())),
                None => return Err(RenderError::Unset(v.clone())),
            };
            let n = first.map_or(list.len(), |n| n.min(list.len()));
            list[cx.rng.random_range(0..n)].clone()
        }
        Part::Page(count, list) => {
            let bad = || RenderError::NotAPage(count.clone(), list.clone());
            let items = match cx.vars.get(count) {
                Some(v) => v.as_u64().ok_or_else(bad)?,
                None => return Err(RenderError::Unset(count.clone())),
            };
            let per_page = match cx.vars.get(list) {
                Some(Value::Array(l)) if !l.is_empty() => l.len() as u64,
                Some(_) => return Err(bad()),
                None => return Err(RenderError::Unset(list.clone())),
            };
            // An empty list still has its first page.
            Value::from(cx.rng.random_range(1..=items.div_ceil(per_page).max(1)))
        }
        Part::Uuid => {
            let bytes: [u8; 16] = cx.rng.random();
            Value::String(
                uuid::Builder::from_random_bytes(bytes)
                    .into_uuid()
                    .to_string(),
            )
        }
        Part::Timestamp => Value::from(chrono::Utc::now().timestamp()),
    })
}

/// A JSON body whose strings are templates.
#[derive(Debug, Clone)]
pub enum JsonTemplate {
    Literal(Value),
    Template(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

impl JsonTemplate {
    pub fn compile(value: &Value) -> Result<Self, TemplateError> {
        Ok(match value {
            Value::String(s) if s.contains('{') || s.contains('}') => {
                Self::Template(Template::parse(s)?)
            }
            Value::Array(items) => {
                Self::Array(items.iter().map(Self::compile).collect::<Result<_, _>>()?)
            }
            Value::Object(map) => Self::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), Self::compile(v)?)))
                    .collect::<Result<_, _>>()?,
            ),
            other => Self::Literal(other.clone()),
        })
    }

    pub fn render(&self, cx: &mut Context<'_>) -> Result<Value, RenderError> {
        Ok(match self {
            Self::Literal(v) => v.clone(),
            Self::Template(t) => t.render_value(cx)?,
            Self::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| i.render(cx))
                    .collect::<Result<_, _>>()?,
            ),
            Self::Object(fields) => {
                let mut map = serde_json::Map::with_capacity(fields.len());
                for (k, v) in fields {
                    map.insert(k.clone(), v.render(cx)?);
                }
                Value::Object(map)
            }
        })
    }

    pub fn variables(&self) -> Vec<&str> {
        match self {
            Self::Literal(_) => Vec::new(),
            Self::Template(t) => t.variables().collect(),
            Self::Array(items) => items.iter().flat_map(Self::variables).collect(),
            Self::Object(fields) => fields.iter().flat_map(|(_, v)| v.variables()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn render(template: &str, vars: &[(&str, Value)]) -> String {
        let vars = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut cx = Context {
            vars: &vars,
            user_index: 1234,
            iteration: 7,
            rng: &mut rng,
        };
        Template::parse(template).unwrap().render(&mut cx).unwrap()
    }

    /// `{page COUNT LIST}` asks only for pages that exist: a shop of 20 products has one page of
    /// 20, one of 21 has two, the plan's 100 has five.
    #[test]
    fn a_page_is_one_that_exists() {
        let template = Template::parse("/api/products/?page={page count ids}").unwrap();
        assert_eq!(template.variables().collect::<Vec<_>>(), ["count", "ids"]);
        assert_eq!(template.display_name(), "/api/products/?page=[page]");
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for (count, per_page, pages) in [(20, 20, 1), (21, 20, 2), (100, 20, 5), (0, 20, 1)] {
            let vars = HashMap::from([
                ("count".to_owned(), Value::from(count)),
                (
                    "ids".to_owned(),
                    Value::Array(vec![Value::from(1); per_page]),
                ),
            ]);
            let mut cx = Context {
                vars: &vars,
                user_index: 0,
                iteration: 0,
                rng: &mut rng,
            };
            let seen: std::collections::BTreeSet<u64> = (0..200)
                .map(|_| {
                    template.render(&mut cx).unwrap()["/api/products/?page=".len()..]
                        .parse()
                        .unwrap()
                })
                .collect();
            assert_eq!(
                seen,
                (1..=pages).collect(),
                "{count} items, {per_page} a page"
            );
        }
        let vars = HashMap::from([("count".to_owned(), Value::from("many"))]);
        let mut cx = Context {
            vars: &vars,
            user_index: 0,
            iteration: 0,
            rng: &mut rng,
        };
        assert!(matches!(
            template.render(&mut cx),
            Err(RenderError::NotAPage(..))
        ));
    }

    #[test]
    fn placeholders_render() {
        assert_eq!(
            render("load_test_user_{user_index mod 1000}", &[]),
            "load_test_user_234"
        );
        assert_eq!(render("{{literal}} {iteration}", &[]), "{literal} 7");
        assert_eq!(
            render("Bearer {token}", &[("token", Value::from("abc"))]),
            "Bearer abc"
        );
        let id: i64 = render("{rand 5 9}", &[]).parse().unwrap();
        assert!((5..=9).contains(&id));
        let picked = render("{pick ids 2}", &[("ids", serde_json::json!([10, 20, 30]))]);
        assert!(picked == "10" || picked == "20", "{picked}");
    }

    #[test]
    fn names_group_ids() {
        let t = Template::parse("/api/products/{pick product_ids}/").unwrap();
        assert_eq!(t.display_name(), "/api/products/[product_id]/");
        assert_eq!(
            Template::parse("/x/{rand 1 9}/").unwrap().display_name(),
            "/x/[id]/"
        );
    }

    #[test]
    fn a_lone_placeholder_keeps_its_json_type() {
        let body = JsonTemplate::compile(&serde_json::json!({
            "amount": "{total}", "orderId": "{order}", "note": "n {total}"
        }))
        .unwrap();
        let vars = [
            ("total".to_owned(), Value::from(15000)),
            ("order".to_owned(), Value::from("ORD-1")),
        ]
        .into_iter()
        .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut cx = Context {
            vars: &vars,
            user_index: 0,
            iteration: 0,
            rng: &mut rng,
        };
        assert_eq!(
            body.render(&mut cx).unwrap(),
            serde_json::json!({"amount": 15000, "orderId": "ORD-1", "note": "n 15000"})
        );
    }

    #[test]
    fn bad_templates_say_what_is_wrong() {
        for (bad, says) in [
            ("{", "never closed"),
            ("}", "lone"),
            ("{rand 9 1}", "greater"),
            ("{what is this}", "unknown placeholder"),
            ("{}", "empty"),
        ] {
            let e = Template::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
