-- Payments and jobs (shop-api.md, "Payment confirm").

-- At most one approved payment per order: the confirm flow's row lock on the order already makes a
-- second one impossible; this makes a bug in it fail loudly instead of charging twice.
CREATE UNIQUE INDEX payments_payment_order_done_uniq ON payments_payment (order_id) WHERE status = 'DONE';
