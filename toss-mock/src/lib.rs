//! A Toss Payments v1 mock (`../shared/spec/toss-mock.md`): confirm, lookup and cancel with Toss's
//! wire formats, idempotency, test codes and seeded chaos. Built by the toss-mock issue.
