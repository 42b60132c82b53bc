"""Orders of the demo shop."""

import pandera.pandas as pa

from audits.contracts import TEXT, key, reference, timestamp

STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled")

schema = pa.DataFrameSchema(
    {
        "id": key(),
        "customer_id": reference(),
        "status": pa.Column(TEXT, pa.Check.isin(STATUSES)),
        "ordered_at": timestamp(),
        "updated_at": timestamp(),
        "deleted_at": timestamp(nullable=True),
    },
    coerce=True,
    name="shop.orders",
)
