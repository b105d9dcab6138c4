//! A payment as the mock keeps it (small: a million fit in a few hundred MB) and as Toss shows it:
//! the full Payment object of version 2022-11-16, every field in Toss's order, nulls included.

use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::{Clock, Millis};
use crate::codes::{self, Code};
use crate::ids::{PaymentKey, TxKey};

/// Index of the secret key a payment was created with (`Config::secret_keys`).
pub type KeyId = u16;

/// A payment's status, as Toss names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ToSchema)]
#[schema(as = PaymentStatus, rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Ready,
    InProgress,
    Done,
    Canceled,
    PartialCanceled,
    Aborted,
    Expired,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Ready,
        Status::InProgress,
        Status::Done,
        Status::Canceled,
        Status::PartialCanceled,
        Status::Aborted,
        Status::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ready => "READY",
            Status::InProgress => "IN_PROGRESS",
            Status::Done => "DONE",
            Status::Canceled => "CANCELED",
            Status::PartialCanceled => "PARTIAL_CANCELED",
            Status::Aborted => "ABORTED",
            Status::Expired => "EXPIRED",
        }
    }

    /// Approved at some point: a card, a receipt, cancellable money.
    pub fn approved(self) -> bool {
        matches!(
            self,
            Status::Done | Status::Canceled | Status::PartialCanceled
        )
    }

    /// Still waiting for a confirm, so subject to expiry.
    pub fn open(self) -> bool {
        matches!(self, Status::Ready | Status::InProgress)
    }
}

#[derive(Debug, Clone)]
pub struct Cancel {
    pub tx: TxKey,
    pub reason: Box<str>,
    pub at: Millis,
    pub amount: i64,
    /// The balance after this cancel.
    pub refundable: i64,
}

#[derive(Debug, Clone)]
pub struct Payment {
    pub key: PaymentKey,
    pub order_id: Box<str>,
    /// `None` is the default name, so most payments carry no copy of it.
    pub order_name: Option<Box<str>>,
    pub owner: KeyId,
    pub status: Status,
    pub total: i64,
    pub balance: i64,
    pub requested_at: Millis,
    /// When an open session turns `EXPIRED`.
    pub expires_at: Millis,
    pub approved_at: Option<Millis>,
    /// The approval's transaction, or the refused attempt's.
    pub attempt: Option<TxKey>,
    pub failure: Option<&'static Code>,
    pub cancels: Vec<Cancel>,
}

pub const DEFAULT_ORDER_NAME: &str = "토스 티셔츠 외 2건";

impl Payment {
    /// Applies expiry: an open session past its deadline is `EXPIRED` from then on.
    pub fn refresh(&mut self, now: Millis) {
        if self.status.open() && now >= self.expires_at {
            self.status = Status::Expired;
            self.failure = Some(&codes::EXPIRED_PAYMENT);
        }
    }

    /// The status a lookup at `now` would show, without changing the payment.
    pub fn status_at(&self, now: Millis) -> Status {
        if self.status.open() && now >= self.expires_at {
            Status::Expired
        } else {
            self.status
        }
    }

    pub fn last_transaction_key(&self) -> Option<TxKey> {
        self.cancels.last().map(|c| c.tx).or(self.attempt)
    }

    /// The Payment object as JSON bytes, in the request's language for `failure.message`.
    pub fn to_json(&self, clock: &Clock, english: bool) -> Vec<u8> {
        let key = self.key.as_str();
        let approved = self.status.approved();
        let card = match (approved, self.attempt) {
            (true, Some(tx)) => Some(CardView::from_tx(tx, self.total)),
            _ => None,
        };
        let view = PaymentView {
            m_id: "tosspayments",
            last_transaction_key: self.last_transaction_key().map(|t| t.to_string()),
            payment_key: key,
            order_id: &self.order_id,
            order_name: self.order_name.as_deref().unwrap_or(DEFAULT_ORDER_NAME),
            tax_exemption_amount: 0,
            status: self.status.as_str(),
            requested_at: clock.kst(self.requested_at),
            approved_at: self.approved_at.map(|t| clock.kst(t)),
            use_escrow: false,
            culture_expense: false,
            card,
            virtual_account: (),
            transfer: (),
            mobile_phone: (),
            gift_certificate: (),
            cash_receipt: (),
            cash_receipts: (),
            discount: (),
            cancels: (!self.cancels.is_empty()).then(|| {
                self.cancels
                    .iter()
                    .map(|c| CancelView {
                        transaction_key: c.tx.to_string(),
                        cancel_reason: &c.reason,
                        tax_exemption_amount: 0,
                        canceled_at: clock.kst(c.at),
                        card_discount_amount: 0,
                        transfer_discount_amount: 0,
                        easy_pay_discount_amount: 0,
                        receipt_key: (),
                        cancel_amount: c.amount,
                        tax_free_amount: 0,
                        refundable_amount: c.refundable,
                        cancel_status: "DONE",
                        cancel_request_id: (),
                    })
                    .collect()
            }),
            secret: (),
            r#type: "NORMAL",
            easy_pay: (),
            country: "KR",
            failure: self.failure.map(|f| FailureView {
                code: f.code,
                message: f.message(english),
            }),
            is_partial_cancelable: true,
            receipt: approved.then(|| UrlView {
                url: format!(
                    "https://dashboard.tosspayments.com/receipt/redirection?transactionId={key}&ref=PX"
                ),
            }),
            checkout: Some(UrlView {
                url: format!("https://api.tosspayments.com/v1/payments/{key}/checkout"),
            }),
            currency: "KRW",
            total_amount: self.total,
            balance_amount: self.balance,
            supplied_amount: self.balance - vat(self.balance),
            vat: vat(self.balance),
            tax_free_amount: 0,
            metadata: (),
            // Chosen when the buyer authenticated; an expired session shows none (toss-v1.md 3).
            method: (!matches!(self.status, Status::Ready | Status::Expired)).then_some("카드"),
            version: "2022-11-16",
        };
        // Serialising plain strings and numbers cannot fail.
        serde_json::to_vec(&view).unwrap_or_default()
    }
}

/// `round(amount / 11)`, half up, Toss's VAT on a tax-free-less amount.
pub fn vat(amount: i64) -> i64 {
    if amount <= 0 { 0 } else { (amount + 5) / 11 }
}

/// Toss's Payment object (version 2022-11-16) as the mock shows a card payment: every field in
/// Toss's order, nulls included.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Payment)]
pub struct PaymentView<'a> {
    m_id: &'static str,
    last_transaction_key: Option<String>,
    payment_key: &'a str,
    order_id: &'a str,
    order_name: &'a str,
    tax_exemption_amount: i64,
    #[schema(value_type = Status)]
    status: &'static str,
    /// KST, `2024-02-13T12:18:14+09:00`.
    requested_at: String,
    approved_at: Option<String>,
    use_escrow: bool,
    culture_expense: bool,
    card: Option<CardView>,
    // `()` is JSON null: the fields Toss sends as null for a card payment.
    #[schema(schema_with = crate::openapi::null)]
    virtual_account: (),
    #[schema(schema_with = crate::openapi::null)]
    transfer: (),
    #[schema(schema_with = crate::openapi::null)]
    mobile_phone: (),
    #[schema(schema_with = crate::openapi::null)]
    gift_certificate: (),
    #[schema(schema_with = crate::openapi::null)]
    cash_receipt: (),
    #[schema(schema_with = crate::openapi::null)]
    cash_receipts: (),
    #[schema(schema_with = crate::openapi::null)]
    discount: (),
    cancels: Option<Vec<CancelView<'a>>>,
    #[schema(schema_with = crate::openapi::null)]
    secret: (),
    r#type: &'static str,
    #[schema(schema_with = crate::openapi::null)]
    easy_pay: (),
    country: &'static str,
    failure: Option<FailureView>,
    is_partial_cancelable: bool,
    receipt: Option<UrlView>,
    checkout: Option<UrlView>,
    currency: &'static str,
    total_amount: i64,
    balance_amount: i64,
    supplied_amount: i64,
    vat: i64,
    tax_free_amount: i64,
    #[schema(schema_with = crate::openapi::null)]
    metadata: (),
    /// `카드` once the buyer authenticated.
    method: Option<&'static str>,
    #[schema(example = "2022-11-16")]
    version: &'static str,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Card)]
struct CardView {
    issuer_code: &'static str,
    acquirer_code: &'static str,
    number: String,
    installment_plan_months: u8,
    is_interest_free: bool,
    #[schema(schema_with = crate::openapi::null)]
    interest_payer: (),
    approve_no: String,
    use_card_point: bool,
    card_type: &'static str,
    owner_type: &'static str,
    acquire_status: &'static str,
    amount: i64,
}

/// Toss's card company codes (KB, Hana, BC, Woori, Shinhan, Samsung, Hyundai, Lotte, NH).
const ISSUERS: [&str; 9] = ["11", "21", "31", "33", "41", "51", "61", "71", "91"];

impl CardView {
    /// Card details drawn from the approval's transaction key, so a payment stores none of them
    /// and every lookup shows the same card.
    fn from_tx(tx: TxKey, amount: i64) -> Self {
        let bits = tx.as_u128();
        let issuer = ISSUERS[(bits % ISSUERS.len() as u128) as usize];
        let bin = (bits >> 8) % 100_000_000;
        let tail = (bits >> 40) % 1000;
        let approve_no = (bits >> 64) % 100_000_000;
        Self {
            issuer_code: issuer,
            acquirer_code: issuer,
            number: format!("{bin:08}****{tail:03}*"),
            installment_plan_months: 0,
            is_interest_free: false,
            interest_payer: (),
            approve_no: format!("{approve_no:08}"),
            use_card_point: false,
            card_type: "신용",
            owner_type: "개인",
            acquire_status: "READY",
            amount,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CancelRecord)]
struct CancelView<'a> {
    transaction_key: String,
    cancel_reason: &'a str,
    tax_exemption_amount: i64,
    canceled_at: String,
    card_discount_amount: i64,
    transfer_discount_amount: i64,
    easy_pay_discount_amount: i64,
    #[schema(schema_with = crate::openapi::null)]
    receipt_key: (),
    cancel_amount: i64,
    tax_free_amount: i64,
    refundable_amount: i64,
    cancel_status: &'static str,
    #[schema(schema_with = crate::openapi::null)]
    cancel_request_id: (),
}

#[derive(Serialize, ToSchema)]
#[schema(as = Failure)]
struct FailureView {
    code: &'static str,
    message: &'static str,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Url)]
struct UrlView {
    url: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn vat_matches_the_docs_examples() {
        for (amount, vat_, supplied) in [
            (1000, 91, 909),
            (15000, 1364, 13636),
            (30000, 2727, 27273),
            (9026, 821, 8205),
            (10000, 909, 9091),
        ] {
            assert_eq!(vat(amount), vat_, "{amount}");
            assert_eq!(amount - vat(amount), supplied, "{amount}");
        }
    }

    proptest! {
        #[test]
        fn vat_is_amount_over_11_rounded_half_up(amount in 0i64..1_000_000_000_000) {
            let exact = amount as f64 / 11.0;
            // 11 never divides into a .5 exactly, so f64's rounding agrees with half-up.
            prop_assert_eq!(vat(amount), exact.round() as i64);
            prop_assert!(vat(amount) <= amount);
        }
    }
}
