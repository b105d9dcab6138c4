//! The binary documents every flag with its environment fallback.

#[test]
fn help_documents_every_flag_and_its_variable() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_toss-mock"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for (flag, var) in [
        ("--listen", "TOSS_MOCK_LISTEN"),
        ("--secret-key", "TOSS_MOCK_SECRET_KEYS"),
        ("--seed", "TOSS_MOCK_SEED"),
        ("--ready-expiry", "TOSS_MOCK_READY_EXPIRY"),
        ("--in-progress-expiry", "TOSS_MOCK_IN_PROGRESS_EXPIRY"),
        ("--latency", "TOSS_MOCK_LATENCY"),
        ("--error-rate", "TOSS_MOCK_ERROR_RATE"),
        ("--error-code", "TOSS_MOCK_ERROR_CODE"),
        ("--timeout-rate", "TOSS_MOCK_TIMEOUT_RATE"),
        ("--hang", "TOSS_MOCK_HANG"),
        ("--commit-then-drop-rate", "TOSS_MOCK_COMMIT_THEN_DROP_RATE"),
        ("--idempotency-retention", "TOSS_MOCK_IDEMPOTENCY_RETENTION"),
        (
            "--idempotency-max-records",
            "TOSS_MOCK_IDEMPOTENCY_MAX_RECORDS",
        ),
        ("--payment-retention", "TOSS_MOCK_PAYMENT_RETENTION"),
        ("--max-payments", "TOSS_MOCK_MAX_PAYMENTS"),
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
        assert!(help.contains(var), "{var} missing from --help");
    }
}

#[test]
fn bad_chaos_flags_exit_2_with_a_reason() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_toss-mock"))
        .args(["--listen", "127.0.0.1:0", "--error-code", "NOPE"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NOPE"));
}
