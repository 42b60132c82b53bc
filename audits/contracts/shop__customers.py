"""Customers of the demo shop."""

import pandera.pandas as pa

from audits.contracts import TEXT, key, timestamp

schema = pa.DataFrameSchema(
    {
        "id": key(),
        "name": pa.Column(TEXT, pa.Check.str_length(1, 200)),
        "email": pa.Column(TEXT, pa.Check.str_matches(r"^[^@\s]+@[^@\s]+$")),
        "city": pa.Column(TEXT, pa.Check.str_length(1, 100)),
        "created_at": timestamp(),
        "updated_at": timestamp(),
        "deleted_at": timestamp(nullable=True),
    },
    coerce=True,
    name="shop.customers",
)
