"""Payments of the demo shop."""

import pandera.pandas as pa

from audits.contracts import TEXT, key, reference, timestamp

METHODS = ("card", "paypal", "bank_transfer", "gift_card")

schema = pa.DataFrameSchema(
    {
        "id": key(),
        "order_id": reference(),
        "amount": pa.Column(float, pa.Check.in_range(0, 1_000_000)),
        "method": pa.Column(TEXT, pa.Check.isin(METHODS)),
        "paid_at": timestamp(),
        "updated_at": timestamp(),
    },
    coerce=True,
    name="shop.payments",
)
