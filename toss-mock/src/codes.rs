//! Toss's error codes with their HTTP status and Korean and English messages (toss-v1.md, 7a-7d).
//! Korean messages are the per-API tables' text; English ones are the docs' where the docs give one,
//! else ours (marked `(mock)`), since clients branch on `code` and only show `message`.

/// One documented error: what clients branch on (`code`), its status and its two messages.
#[derive(Debug, PartialEq, Eq)]
pub struct Code {
    pub code: &'static str,
    pub status: u16,
    pub ko: &'static str,
    pub en: &'static str,
    /// A `TossPayments-Test-Code` may name it.
    pub testable: bool,
    /// On a confirm it is a refusal of the payment itself, so the session ends `ABORTED`.
    pub declines: bool,
}

impl Code {
    pub fn message(&self, english: bool) -> &'static str {
        if english { self.en } else { self.ko }
    }
}

macro_rules! codes {
    ($($name:ident $status:literal $testable:literal $declines:literal $ko:literal $en:literal;)*) => {
        $(pub static $name: Code = Code {
            code: stringify!($name),
            status: $status,
            ko: $ko,
            en: $en,
            testable: $testable,
            declines: $declines,
        };)*
        /// Every code the mock knows, for test codes and `error_code` look-ups.
        pub static ALL: &[&Code] = &[$(&$name),*];
    };
}

// name status testable declines ko en
codes! {
    // confirm (7a)
    ALREADY_PROCESSED_PAYMENT 400 true false "이미 처리된 결제 입니다." "This is a payment that has already been processed.";
    PROVIDER_ERROR 400 true true "일시적인 오류가 발생했습니다. 잠시 후 다시 시도해주세요." "This is temporary error. Please try again in a few minutes.";
    EXCEED_MAX_CARD_INSTALLMENT_PLAN 400 true true "설정 가능한 최대 할부 개월 수를 초과했습니다." "Maximum number of installment months exceeded. (`installmentPlanMonths`)";
    INVALID_REQUEST 400 true false "잘못된 요청입니다." "The bad request.";
    NOT_ALLOWED_POINT_USE 400 true true "포인트 사용이 불가한 카드로 카드 포인트 결제에 실패했습니다." "Card point payment failed because the card cannot be used points.";
    INVALID_API_KEY 400 true false "잘못된 시크릿키 연동 정보 입니다." "Incorrect secret key.";
    INVALID_REJECT_CARD 400 true true "카드 사용이 거절되었습니다. 카드사 문의가 필요합니다." "Refer to card issuer/decline.";
    BELOW_MINIMUM_AMOUNT 400 true true "신용카드는 결제금액이 100원 이상, 계좌는 200원이상부터 결제가 가능합니다." "Payment can be made from 100 won or more by credit card, and 200 won or more for account.";
    INVALID_CARD_EXPIRATION 400 true true "카드 정보를 다시 확인해주세요. (유효기간)" "Please check the card expiration date information again.";
    INVALID_STOPPED_CARD 400 true true "정지된 카드 입니다." "This is a suspended card.";
    EXCEED_MAX_DAILY_PAYMENT_COUNT 400 true true "하루 결제 가능 횟수를 초과했습니다." "You have exceeded the number of daily payments.";
    NOT_SUPPORTED_INSTALLMENT_PLAN_CARD_OR_MERCHANT 400 true true "할부가 지원되지 않는 카드 또는 가맹점 입니다." "Installment plans are not supported by this card or merchant. (mock)";
    INVALID_CARD_INSTALLMENT_PLAN 400 true true "할부 개월 정보가 잘못되었습니다." "The installment plan is invalid. (mock)";
    NOT_SUPPORTED_MONTHLY_INSTALLMENT_PLAN 400 true true "할부가 지원되지 않는 카드입니다." "This card does not support installment or interest-free installment.";
    EXCEED_MAX_PAYMENT_AMOUNT 400 true true "하루 결제 가능 금액을 초과했습니다." "You have exceeded the amount you can pay per day.";
    NOT_FOUND_TERMINAL_ID 400 true true "단말기번호(Terminal Id)가 없습니다. 토스페이먼츠로 문의 바랍니다." "There is no Terminal Id. Please contact Toss Payments.";
    INVALID_AUTHORIZE_AUTH 400 true true "유효하지 않은 인증 방식입니다." "Incorrect authentication.";
    INVALID_CARD_LOST_OR_STOLEN 400 true true "분실 혹은 도난 카드입니다." "This card has been reported lost or stolen. (mock)";
    RESTRICTED_TRANSFER_ACCOUNT 400 true true "계좌는 등록 후 12시간 뒤부터 결제할 수 있습니다. 관련 정책은 해당 은행으로 문의해주세요." "An account can pay 12 hours after its registration. Please ask the bank about its policy. (mock)";
    INVALID_CARD_NUMBER 400 true true "카드번호를 다시 확인해주세요." "Please check your card number again.";
    INVALID_UNREGISTERED_SUBMALL 400 true true "등록되지 않은 서브몰입니다. 서브몰이 없는 가맹점이라면 안심클릭이나 ISP 결제가 필요합니다." "The PG sub-merchant is not registered yet OR payment authentication method of the card issuer is required for the PG";
    NOT_REGISTERED_BUSINESS 400 true true "등록되지 않은 사업자 번호입니다." "Unregsitered business registration number";
    EXCEED_MAX_ONE_DAY_WITHDRAW_AMOUNT 400 true true "1일 출금 한도를 초과했습니다." "You have exceeded the one-day withdrawal limit.";
    EXCEED_MAX_ONE_TIME_WITHDRAW_AMOUNT 400 true true "1회 출금 한도를 초과했습니다." "You have exceeded the one-time withdrawal limit.";
    CARD_PROCESSING_ERROR 400 true true "카드사에서 오류가 발생했습니다." "An error occurred at the card company. (mock)";
    EXCEED_MAX_AMOUNT 400 true true "거래금액 한도를 초과했습니다." "The transaction amount limit has been exceeded.";
    INVALID_ACCOUNT_INFO_RE_REGISTER 400 true true "유효하지 않은 계좌입니다. 계좌 재등록 후 시도해주세요." "The account is not valid. Please register it again and retry. (mock)";
    NOT_AVAILABLE_PAYMENT 400 true true "결제가 불가능한 시간대입니다" "Payment is not available at this time. (mock)";
    UNAPPROVED_ORDER_ID 400 true true "아직 승인되지 않은 주문번호입니다." "This order id has not been approved yet. (mock)";
    EXCEED_MAX_MONTHLY_PAYMENT_AMOUNT 400 true true "당월 결제 가능금액인 1,000,000원을 초과 하셨습니다." "You have exceeded this month's payable amount of 1,000,000 won. (mock)";
    DUPLICATED_ORDER_ID 400 true false "이미 승인 및 취소가 진행된 중복된 주문번호 입니다. 다른 주문번호로 진행해주세요." "This is a duplicate order id that has already been approved or canceled. Please proceed with a different order id.";
    ALREADY_COMPLETED_PAYMENT 400 true false "이미 완료된 결제 입니다." "This is a payment that has already been completed.";
    UNAUTHORIZED_KEY 401 true false "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다." "This is an unauthenticated secret key or client key.";
    REJECT_ACCOUNT_PAYMENT 403 true true "잔액부족으로 결제에 실패했습니다." "Payment failed due to insufficient balance";
    REJECT_CARD_PAYMENT 403 true true "한도초과 혹은 잔액부족으로 결제에 실패했습니다." "Payment failed because the limit was exceeded or the balance is insufficient. (mock)";
    REJECT_CARD_COMPANY 403 true true "결제 승인이 거절되었습니다." "Payment confirm is rejected";
    FORBIDDEN_REQUEST 403 true false "허용되지 않은 요청입니다." "This request is not allowed.";
    REJECT_TOSSPAY_INVALID_ACCOUNT 403 true true "선택하신 출금 계좌가 출금이체 등록이 되어 있지 않아요. 계좌를 다시 등록해 주세요." "The selected account is not registered for withdrawals. Please register it again. (mock)";
    EXCEED_MAX_AUTH_COUNT 403 true true "최대 인증 횟수를 초과했습니다. 카드사로 문의해주세요." "The maximum number of authentications has been exceeded. Please contact your credit card company.";
    EXCEED_MAX_ONE_DAY_AMOUNT 403 true true "일일 한도를 초과했습니다." "The daily limit has been exceeded. (mock)";
    NOT_AVAILABLE_BANK 403 true true "은행 서비스 시간이 아닙니다." "Not bank service time.";
    INVALID_PASSWORD 403 true true "결제 비밀번호가 일치하지 않습니다." "Payment password does not match.";
    INCORRECT_BASIC_AUTH_FORMAT 403 true false "잘못된 요청입니다. ':' 를 포함해 인코딩해주세요." "Bad request. Please encode the key with the ':'. (mock)";
    FDS_ERROR 403 true true "[토스페이먼츠] 위험거래가 감지되어 결제가 제한됩니다. 발송된 문자에 포함된 링크를 통해 본인인증 후 결제가 가능합니다. (고객센터: 1644-8051)" "[Toss Payments] A risky transaction was detected and payment is restricted. Verify your identity with the link in the text message, then pay. (Customer center: 1644-8051) (mock)";
    NOT_FOUND_PAYMENT 404 true false "존재하지 않는 결제 정보 입니다." "The payment does not exist.";
    NOT_FOUND_PAYMENT_SESSION 404 true false "결제 시간이 만료되어 결제 진행 데이터가 존재하지 않습니다." "Payment session does not exist because the session time has expired.";
    FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING 500 true true "결제가 완료되지 않았어요. 다시 시도해주세요." "The payment was not completed. Please try again. (mock)";
    FAILED_INTERNAL_SYSTEM_PROCESSING 500 true true "내부 시스템 처리 작업이 실패했습니다. 잠시 후 다시 시도해주세요." "Internal system processing operation has failed. Please try again in a few minutes.";
    UNKNOWN_PAYMENT_ERROR 500 true true "결제에 실패했어요. 같은 문제가 반복된다면 은행이나 카드사로 문의해주세요." "The payment failed. If it happens again, please contact your bank or card company. (mock)";
    COMMON_ERROR 500 true true "일시적인 오류가 발생했습니다. 잠시 후 다시 시도해주세요." "A temporary error has occurred. Please try again in a few minutes.";
    // lookup (7b)
    NOT_SUPPORTED_MONTHLY_INSTALLMENT_PLAN_BELOW_AMOUNT 400 true false "5만원 이하의 결제는 할부가 불가능해서 결제에 실패했습니다." "Installments are not available for payments of 50,000 won or less. (mock)";
    FORBIDDEN_CONSECUTIVE_REQUEST 403 true false "반복적인 요청은 허용되지 않습니다. 잠시 후 다시 시도해주세요." "Repetitive requests are not allowed. Please try again in a few minutes.";
    NOT_FOUND 404 true false "존재하지 않는 정보 입니다." "This information does not exist.";
    // cancel (7c)
    ALREADY_CANCELED_PAYMENT 400 true false "이미 취소된 결제 입니다." "The payment has already been canceled.";
    INVALID_REFUND_ACCOUNT_INFO 400 true false "환불 계좌번호와 예금주명이 일치하지 않습니다." "Refund account number and account holder name do not match.";
    EXCEED_CANCEL_AMOUNT_DISCOUNT_AMOUNT 400 true false "즉시할인금액보다 적은 금액은 부분취소가 불가능합니다." "A partial cancel below the instant discount amount is not possible. (mock)";
    INVALID_REFUND_ACCOUNT_NUMBER 400 true false "잘못된 환불 계좌번호입니다." "Incorrect refund account number.";
    INVALID_BANK 400 true false "유효하지 않은 은행입니다." "It is an Invalid bank.";
    NOT_MATCHES_REFUNDABLE_AMOUNT 400 true false "잔액 결과가 일치하지 않습니다." "Balance results do not match.";
    REFUND_REJECTED 400 true false "환불이 거절됐습니다. 결제사에 문의 부탁드립니다." "The refund has been rejected. Please contact the respective payment provider.";
    ALREADY_REFUND_PAYMENT 400 true false "이미 환불된 결제입니다." "The payment has already been refunded.";
    FORBIDDEN_BANK_REFUND_REQUEST 400 true false "고객 계좌가 입금이 되지 않는 상태입니다." "The customer's account cannot receive deposits. (mock)";
    NOT_CANCELABLE_AMOUNT 403 true false "취소 할 수 없는 금액 입니다." "This is a non-cancelable amount.";
    NOT_CANCELABLE_PAYMENT 403 true false "취소 할 수 없는 결제 입니다." "This is a non-cancelable payment.";
    EXCEED_MAX_REFUND_DUE 403 true false "환불 가능한 기간이 지났습니다." "The refundable period has been exceeded.";
    NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT 403 true false "입금 대기중인 결제는 부분 환불이 불가합니다." "Partial refunds are not available while pending deposit.";
    NOT_ALLOWED_PARTIAL_REFUND 403 true false "에스크로 주문, 현금 카드 결제일 때는 부분 환불이 불가합니다. 이외 다른 결제 수단에서 부분 취소가 되지 않을 때는 토스페이먼츠에 문의해 주세요." "Partial refunds are not available for reasons such as escrow or cash payment.";
    NOT_CANCELABLE_PAYMENT_FOR_DORMANT_USER 403 true false "휴면 처리된 회원의 결제는 취소할 수 없습니다." "Payments of a dormant member cannot be canceled. (mock)";
    EXCEED_CANCEL_LIMIT 403 true false "취소 한도 금액을 초과 하였습니다." "The cancel limit has been exceeded. (mock)";
    FAILED_REFUND_PROCESS 500 true false "은행 응답시간 지연이나 일시적인 오류로 환불요청에 실패했습니다." "The refund request failed due to a delay in the bank response time or a temporary error.";
    FAILED_METHOD_HANDLING_CANCEL 500 true false "취소 중 결제 시 사용한 결제 수단 처리과정에서 일시적인 오류가 발생했습니다." "A temporary error occurred while processing cancellation.";
    FAILED_PARTIAL_REFUND 500 true false "은행 점검, 해약 계좌 등의 사유로 부분 환불이 실패했습니다." "The partial refund failed because of bank maintenance, a closed account or a similar reason. (mock)";
    // every POST (7d)
    INVALID_IDEMPOTENCY_KEY 400 true false "멱등키는 300자 이하여야 합니다." "The idempotency key must be 300 characters or less. (mock)";
    IDEMPOTENT_REQUEST_PROCESSING 409 true false "이전 멱등 요청이 처리중입니다." "The previous idempotent request is still being processed. (mock)";
    INVALID_TEST_CODE 400 false false "유효하지 않은 테스트 코드입니다." "Invalid test code";
    NOT_FOUND_HTTP_METHOD 404 false false "존재하지 않는 HTTP 메소드 접근입니다." "This HTTP method does not allowed.";
    // the mock's session endpoint validates as Toss's payment request does
    INVALID_ORDER_ID 400 false false "orderId는 영문 대소문자, 숫자, 특수문자(-, _) 만 허용합니다. 6자 이상 64자 이하여야 합니다." "The order id must be at least 6 and maximum 64 upper and lower case alphabets, numbers, special characters (-, _, =).";
    INVALID_ORDER_NAME 400 false false "주문 이름은 100자 이하여야 합니다." "The order name must be 100 characters or less.";
    // only ever a Payment's `failure`, never an answer
    EXPIRED_PAYMENT 400 false false "결제가 만료되었습니다. 다시 시도해주세요." "The payment has expired. Please try again. (mock)";
}

/// The code named `name`, if the mock knows it.
pub fn find(name: &str) -> Option<&'static Code> {
    ALL.iter().copied().find(|c| c.code == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_statuses_valid() {
        let mut names: Vec<_> = ALL.iter().map(|c| c.code).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
        for c in ALL {
            assert!(
                axum::http::StatusCode::from_u16(c.status).is_ok(),
                "{}",
                c.code
            );
        }
        assert_eq!(find("REJECT_CARD_PAYMENT").map(|c| c.status), Some(403));
        assert!(find("NO_SUCH_CODE").is_none());
    }
}
