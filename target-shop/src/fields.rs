//! DRF serializer fields over `request.data`: each field is read in declaration order and its
//! errors collected, so a 400 lists every bad field in DRF's order and words.

use serde_json::{Map, Value};

use crate::error::ApiError;

pub struct Fields<'a> {
    data: &'a Map<String, Value>,
    errors: Map<String, Value>,
}

impl<'a> Fields<'a> {
    pub fn new(data: &'a Map<String, Value>) -> Self {
        Self {
            data,
            errors: Map::new(),
        }
    }

    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.insert(
            field.to_string(),
            Value::Array(vec![Value::String(message.into())]),
        );
    }

    /// A required `CharField` with `trim_whitespace`: numbers and booleans become strings, as
    /// Python's `str()` writes them.
    pub fn char_field(&mut self, field: &str) -> Option<String> {
        self.char_field_checked(field, None)
    }

    /// A required `CharField(max_length=...)`.
    pub fn char_field_max(&mut self, field: &str, max_length: usize) -> Option<String> {
        self.char_field_checked(field, Some(max_length))
    }

    /// A `CharField(required=False, max_length=...)`: absent is `None`, present is checked as
    /// any CharField.
    pub fn optional_char_field(&mut self, field: &str, max_length: usize) -> Option<String> {
        if !self.data.contains_key(field) {
            return None;
        }
        self.char_field_max(field, max_length)
    }

    /// DRF's `CharField.run_validation`: required, not null, a string (or a number or boolean
    /// made one), trimmed, not blank; then every validator, each error kept in DRF's order:
    /// `MaxLengthValidator`, then `ProhibitNullCharactersValidator` (PostgreSQL cannot store a
    /// NUL, so DRF refuses it before any query does).
    fn char_field_checked(&mut self, field: &str, max_length: Option<usize>) -> Option<String> {
        let value = match self.data.get(field) {
            None => {
                self.fail(field, "This field is required.");
                return None;
            }
            Some(Value::Null) => {
                self.fail(field, "This field may not be null.");
                return None;
            }
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => if *b { "True" } else { "False" }.to_string(),
            Some(_) => {
                self.fail(field, "Not a valid string.");
                return None;
            }
        };
        if value.is_empty() {
            self.fail(field, "This field may not be blank.");
            return None;
        }
        let mut messages = Vec::new();
        if let Some(max_length) = max_length
            && value.chars().count() > max_length
        {
            messages.push(Value::String(format!(
                "Ensure this field has no more than {max_length} characters."
            )));
        }
        if value.contains('\0') {
            messages.push(Value::String("Null characters are not allowed.".into()));
        }
        if !messages.is_empty() {
            self.errors
                .insert(field.to_string(), Value::Array(messages));
            return None;
        }
        Some(value)
    }

    /// An `IntegerField` (required unless `default` is given) within `min..=max`.
    pub fn integer_field(
        &mut self,
        field: &str,
        default: Option<i64>,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        let value = match self.data.get(field) {
            None => match default {
                Some(d) => return Some(d),
                None => {
                    self.fail(field, "This field is required.");
                    return None;
                }
            },
            Some(Value::Null) => {
                self.fail(field, "This field may not be null.");
                return None;
            }
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => Some(i),
                // 1.0 is an integer to DRF; 1.5 is not.
                None => n
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                    .map(|f| f as i64),
            },
            Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
            Some(_) => None,
        };
        let Some(value) = value else {
            self.fail(field, "A valid integer is required.");
            return None;
        };
        if value < min {
            self.fail(
                field,
                format!("Ensure this value is greater than or equal to {min}."),
            );
            return None;
        }
        if value > max {
            self.fail(
                field,
                format!("Ensure this value is less than or equal to {max}."),
            );
            return None;
        }
        Some(value)
    }

    /// The collected errors as DRF's 400, or nothing.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::BadRequest(Value::Object(self.errors)))
        }
    }
}
