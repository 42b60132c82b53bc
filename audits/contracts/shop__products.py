"""Products of the demo shop."""

import pandera.pandas as pa

from audits.contracts import TEXT, key, timestamp

CATEGORIES = ("books", "electronics", "garden", "home", "kitchen", "sports", "toys", "beauty")

schema = pa.DataFrameSchema(
    {
        "id": key(),
        "name": pa.Column(TEXT, pa.Check.str_length(1, 200)),
        "category": pa.Column(TEXT, pa.Check.isin(CATEGORIES)),
        "price": pa.Column(float, pa.Check.in_range(0, 100_000)),
        "created_at": timestamp(),
        "updated_at": timestamp(),
    },
    coerce=True,
    name="shop.products",
)
