"""Order lines of the demo shop."""

import pandera.pandas as pa

from audits.contracts import key, reference, timestamp

schema = pa.DataFrameSchema(
    {
        "id": key(),
        "order_id": reference(),
        "product_id": reference(),
        "quantity": pa.Column("int64", pa.Check.in_range(1, 1_000)),
        "unit_price": pa.Column(float, pa.Check.in_range(0, 100_000)),
        "updated_at": timestamp(),
    },
    coerce=True,
    name="shop.order_items",
)
