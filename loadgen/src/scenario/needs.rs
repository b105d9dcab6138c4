//! The parts of a JSON answer that a request's captures and checks read. The body is parsed only
//! that far: what no pointer reaches is skipped by the parser without building a value (on a
//! product page that is every description, image and price beside the ids a capture wants).

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A tree of the paths read: a parse through it gives a value on which each of those pointers
/// reads exactly what it reads on the whole body (array positions kept, skipped items null).
#[derive(Debug, Clone, Default)]
pub struct Needs {
    root: Option<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    /// The whole value here.
    All,
    Part {
        /// Object keys (or array indexes) read further, with the index parsed once.
        keys: Vec<(String, Option<usize>, Node)>,
        /// `*`: every item of an array, read further.
        each: Option<Box<Node>>,
    },
}

/// A path segment: a key, or every item of an array.
pub enum Segment<'a> {
    Key(&'a str),
    Each,
}

impl Needs {
    /// Adds a JSON pointer (`/results/0/id`); its segments are unescaped here.
    pub fn add_pointer(&mut self, pointer: &str, then: Option<&str>) {
        let keys = |p: &str| -> Vec<String> {
            p.split('/')
                .skip(1)
                .map(|s| s.replace("~1", "/").replace("~0", "~"))
                .collect()
        };
        let head = keys(pointer);
        let tail = then.map(keys);
        let mut path: Vec<Segment<'_>> = head.iter().map(|k| Segment::Key(k)).collect();
        if let Some(tail) = &tail {
            path.push(Segment::Each);
            path.extend(tail.iter().map(|k| Segment::Key(k)));
        }
        let root = self.root.get_or_insert_with(Node::part);
        root.add(&path);
    }

    /// True when no pointer was added: the body need not be parsed at all.
    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    /// Parses `body` as far as the pointers need; an error when it is not JSON.
    pub fn parse(&self, body: &[u8]) -> serde_json::Result<Value> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let value = match &self.root {
            None => {
                <IgnoredAny as serde::Deserialize>::deserialize(&mut de).map(|_| Value::Null)?
            }
            Some(node) => node.deserialize(&mut de)?,
        };
        de.end()?;
        Ok(value)
    }
}

impl Node {
    fn part() -> Self {
        Self::Part {
            keys: Vec::new(),
            each: None,
        }
    }

    fn add(&mut self, path: &[Segment<'_>]) {
        let Some((first, rest)) = path.split_first() else {
            *self = Self::All;
            return;
        };
        let Self::Part { keys, each } = self else {
            return; // already the whole value
        };
        let child = match first {
            Segment::Each => &mut **each.get_or_insert_with(|| Box::new(Self::part())),
            Segment::Key(key) => {
                let at = match keys.iter().position(|(k, _, _)| k == key) {
                    Some(at) => at,
                    None => {
                        // RFC 6901: an index is digits without a leading zero.
                        let index = (key == &"0" || !key.starts_with('0'))
                            .then(|| key.parse().ok())
                            .flatten();
                        keys.push(((*key).to_owned(), index, Self::part()));
                        keys.len() - 1
                    }
                };
                &mut keys[at].2
            }
        };
        child.add(rest);
    }
}

impl<'de> DeserializeSeed<'de> for &Node {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self {
            Node::All => serde::Deserialize::deserialize(d),
            Node::Part { .. } => d.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for &Node {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let Node::Part { keys, .. } = self else {
            return Err(serde::de::Error::custom("a whole value is read by Value"));
        };
        let mut out = Map::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match keys.iter().find(|(k, _, _)| *k == *key) {
                Some((_, _, child)) => {
                    out.insert(key.into_owned(), map.next_value_seed(child)?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let Node::Part { keys, each } = self else {
            return Err(serde::de::Error::custom("a whole value is read by Value"));
        };
        let mut out = Vec::new();
        loop {
            let i = out.len();
            let child = keys
                .iter()
                .find(|(_, index, _)| *index == Some(i))
                .map(|(_, _, c)| c)
                .or(each.as_deref());
            let item = match child {
                Some(child) => seq.next_element_seed(child)?,
                None => seq.next_element::<IgnoredAny>()?.map(|_| Value::Null),
            };
            match item {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// An object key, borrowed from the body when it has no escapes: keys no pointer reads cost no
/// allocation (serde's own `Cow` always copies).
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::Needs;
    use serde_json::{Value, json};

    const BODY: &str = r#"{"count": 2, "next": null, "results": [
        {"id": 7, "name": "a", "tags": ["x", {"deep": 1}], "price": "1.00"},
        {"id": 9, "name": "b~/c", "tags": [], "price": 2.5}],
        "a/b": {"c~d": true}, "list": [10, 11, 12], "05": "leading zero"}"#;

    fn pruned(pointers: &[(&str, Option<&str>)]) -> Value {
        let mut needs = Needs::default();
        for (p, then) in pointers {
            needs.add_pointer(p, *then);
        }
        needs.parse(BODY.as_bytes()).unwrap()
    }

    #[test]
    fn every_pointer_reads_what_it_reads_on_the_whole_body() {
        let whole: Value = serde_json::from_str(BODY).unwrap();
        let pointers = [
            "/count",
            "/next",
            "/results/1/name",
            "/results/0/tags/1/deep",
            "/a~1b/c~0d",
            "/list/2",
            "/05",
            "/missing",
            "/results/5/id",
            "",
        ];
        for p in pointers {
            let part = pruned(&[(p, None)]);
            assert_eq!(part.pointer(p), whole.pointer(p), "{p}");
        }
        let all = pruned(&pointers.map(|p| (p, None)));
        for p in pointers {
            assert_eq!(all.pointer(p), whole.pointer(p), "{p} among all");
        }
    }

    #[test]
    fn each_reads_every_item_and_unread_parts_are_not_built() {
        let part = pruned(&[("/results", Some("/id")), ("/count", None)]);
        assert_eq!(part, json!({"count": 2, "results": [{"id": 7}, {"id": 9}]}));
        let list = pruned(&[("/list/1", None)]);
        assert_eq!(list, json!({"list": [null, 11, null]}));
    }

    #[test]
    fn not_json_is_an_error_even_when_nothing_is_read() {
        assert!(Needs::default().parse(b"<html>").is_err());
        assert!(Needs::default().parse(b"{\"a\": 1} trailing").is_err());
        let mut needs = Needs::default();
        needs.add_pointer("/a", None);
        assert!(needs.parse(b"{\"a\": [1, }").is_err());
        assert_eq!(needs.parse(b"[1, 2]").unwrap(), json!([null, null]));
    }
}
