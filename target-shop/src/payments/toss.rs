//! The Toss Payments v1 client (`docs/contracts/toss-mock.md`): Basic auth with the secret key
//! (`base64("key:")`), an `Idempotency-Key` on every POST, one timeout per call. An answer is a
//! Payment, Toss's own refusal (`{"code","message"}`), or nothing usable: no answer in time, no
//! connection, a dropped response, a body that is neither.

use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde_json::{Value, json};

use super::TossConfig;

/// Toss's code for a confirm of a payment it has already approved (or cancelled).
pub const ALREADY_PROCESSED_PAYMENT: &str = "ALREADY_PROCESSED_PAYMENT";
/// Toss's code for a cancel of a payment it has already cancelled.
pub const ALREADY_CANCELED_PAYMENT: &str = "ALREADY_CANCELED_PAYMENT";

#[derive(Clone)]
pub struct Toss {
    http: reqwest::Client,
    base: reqwest::Url,
    authorization: HeaderValue,
}

/// The fields of Toss's Payment object the shop keeps; `raw` is the whole object as Toss sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Payment {
    pub payment_key: String,
    pub order_id: String,
    pub status: String,
    pub method: Option<String>,
    pub total_amount: i64,
    pub approved_at: Option<DateTime<Utc>>,
    pub raw: Value,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum TossError {
    /// Toss answered with an error: the request was decided, and not in the caller's favour.
    #[error("toss refused ({status} {code}): {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// No usable answer: whether Toss acted on the request is unknown.
    #[error("toss gave no usable answer: {0}")]
    NoAnswer(String),
}

impl TossError {
    /// Whether Toss may have done what was asked although this call does not say so: a lookup
    /// must settle it before the shop answers.
    pub fn in_doubt(&self) -> bool {
        match self {
            Self::NoAnswer(_) => true,
            // Toss's own 5xx: an internal failure, possibly after the approval.
            Self::Refused { status, code, .. } => {
                *status >= 500
                    || code == ALREADY_PROCESSED_PAYMENT
                    || code == ALREADY_CANCELED_PAYMENT
            }
        }
    }
}

impl Toss {
    pub fn new(config: &TossConfig) -> anyhow::Result<Self> {
        let base = reqwest::Url::parse(&config.url)
            .map_err(|e| anyhow::anyhow!("the Toss URL {:?}: {e}", config.url))?;
        if base.cannot_be_a_base() {
            anyhow::bail!("the Toss URL {:?} cannot be a base URL", config.url);
        }
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:", config.secret_key));
        let mut authorization = HeaderValue::from_str(&format!("Basic {credentials}"))?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            // Library code reads no environment: no proxy from HTTP_PROXY.
            .no_proxy()
            .build()?;
        Ok(Self {
            http,
            base,
            authorization,
        })
    }

    /// `base` + the path segments, each percent-encoded (a paymentKey comes from the client).
    fn url(&self, segments: &[&str]) -> reqwest::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// `POST /v1/payments/confirm`.
    pub async fn confirm(
        &self,
        payment_key: &str,
        order_id: &str,
        amount: i64,
        idempotency_key: &str,
    ) -> Result<Payment, TossError> {
        let request = self
            .http
            .post(self.url(&["v1", "payments", "confirm"]))
            .header("Idempotency-Key", idempotency_key)
            .json(&json!({"paymentKey": payment_key, "orderId": order_id, "amount": amount}));
        self.send(request).await
    }

    /// `GET /v1/payments/orders/{orderId}`.
    pub async fn payment_by_order(&self, order_id: &str) -> Result<Payment, TossError> {
        let request = self
            .http
            .get(self.url(&["v1", "payments", "orders", order_id]));
        self.send(request).await
    }

    /// `GET /v1/payments/{paymentKey}`.
    pub async fn payment(&self, payment_key: &str) -> Result<Payment, TossError> {
        let request = self.http.get(self.url(&["v1", "payments", payment_key]));
        self.send(request).await
    }

    /// `POST /v1/payments/{paymentKey}/cancel`: the whole balance.
    pub async fn cancel(
        &self,
        payment_key: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<Payment, TossError> {
        let request = self
            .http
            .post(self.url(&["v1", "payments", payment_key, "cancel"]))
            .header("Idempotency-Key", idempotency_key)
            .json(&json!({"cancelReason": reason}));
        self.send(request).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Payment, TossError> {
        let no_answer = |e: reqwest::Error| TossError::NoAnswer(format!("{e:#}"));
        let response = request
            .header(AUTHORIZATION, self.authorization.clone())
            .send()
            .await
            .map_err(no_answer)?;
        let status = response.status();
        let body = response.bytes().await.map_err(no_answer)?;
        let value: Option<Value> = serde_json::from_slice(&body).ok();
        if status.is_success() {
            return value.as_ref().and_then(Payment::from_json).ok_or_else(|| {
                TossError::NoAnswer(format!("{status} without a readable Payment"))
            });
        }
        match value {
            Some(Value::Object(error)) => match (error.get("code"), error.get("message")) {
                (Some(Value::String(code)), message) => Err(TossError::Refused {
                    status: status.as_u16(),
                    code: code.clone(),
                    message: message
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                }),
                _ => Err(TossError::NoAnswer(format!(
                    "{status} without a Toss error"
                ))),
            },
            _ => Err(TossError::NoAnswer(format!(
                "{status} without a Toss error"
            ))),
        }
    }
}

impl Payment {
    /// The Payment object's fields the shop needs; `None` if any required one is missing.
    pub fn from_json(value: &Value) -> Option<Self> {
        let text = |field: &str| value.get(field).and_then(Value::as_str).map(str::to_string);
        Some(Self {
            payment_key: text("paymentKey")?,
            order_id: text("orderId")?,
            status: text("status")?,
            method: text("method"),
            total_amount: value.get("totalAmount").and_then(Value::as_i64)?,
            approved_at: value
                .get("approvedAt")
                .and_then(Value::as_str)
                .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
                .map(|at| at.with_timezone(&Utc)),
            raw: value.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tosss_payment_object() {
        let raw = json!({
            "paymentKey": "tviva20240213121757MvuS8", "orderId": "ORD-20261122-000001",
            "status": "DONE", "approvedAt": "2024-02-13T12:18:14+09:00", "method": "카드",
            "totalAmount": 15000, "cancels": null,
        });
        let payment = Payment::from_json(&raw).unwrap();
        assert_eq!(payment.status, "DONE");
        assert_eq!(payment.total_amount, 15000);
        assert_eq!(payment.method.as_deref(), Some("카드"));
        assert_eq!(
            payment.approved_at.unwrap().to_rfc3339(),
            "2024-02-13T03:18:14+00:00"
        );
        assert!(Payment::from_json(&json!({"code": "NOT_FOUND_PAYMENT"})).is_none());
    }

    #[test]
    fn paths_are_encoded_and_the_key_has_its_colon() {
        let toss = Toss::new(&TossConfig {
            url: "http://127.0.0.1:8090/".into(),
            ..TossConfig::default()
        })
        .unwrap();
        assert_eq!(
            toss.url(&["v1", "payments", "a/b?c", "cancel"]).as_str(),
            "http://127.0.0.1:8090/v1/payments/a%2Fb%3Fc/cancel"
        );
        // base64("test_sk_shopload:")
        assert_eq!(
            toss.authorization.to_str().unwrap(),
            "Basic dGVzdF9za19zaG9wbG9hZDo="
        );
    }

    #[test]
    fn what_is_in_doubt() {
        let refused = |status, code: &str| TossError::Refused {
            status,
            code: code.into(),
            message: String::new(),
        };
        assert!(TossError::NoAnswer("timeout".into()).in_doubt());
        assert!(refused(400, ALREADY_PROCESSED_PAYMENT).in_doubt());
        assert!(refused(500, "UNKNOWN_PAYMENT_ERROR").in_doubt());
        assert!(!refused(400, "PROVIDER_ERROR").in_doubt());
        assert!(!refused(403, "REJECT_CARD_PAYMENT").in_doubt());
    }
}
