"""Lake: per layer and bucket, size (in MiB throughout), file count, latest write and small files."""

import altair as alt
import streamlit as st

from app import components as ui
from app.queries.lake_usage import lake_usage, layer_totals

settings = ui.app_settings()
st.title("Lake")
MIB = 1_048_576
usage = lake_usage(settings)
st.caption(f"{settings.lake_root} (backend {settings.lake.backend}); small files are under {settings.app.small_file_bytes / MIB:,.2f} MiB.")
if usage["count_files"].sum() == 0:
    st.info("The lake is empty. " + ui.RUN_HINT)
    st.stop()
totals = layer_totals(usage)
usage = usage.assign(size_mib=usage["size_bytes"] / MIB).drop(columns="size_bytes")
for column, row in zip(st.columns(len(totals)), totals.to_dict("records"), strict=True):
    column.metric(
        str(row["layer"]),
        f"{row['size_bytes'] / MIB:,.2f} MiB",
        f"{row['count_files']} files, {row['count_small_files']} small",
        delta_color="off",
        delta_arrow="off",
        border=True,
    )
ui.chart(
    alt.Chart(usage[usage["count_files"] > 0])
    .mark_bar()
    .encode(
        alt.X("size_mib:Q", title="Size (MiB)", axis=alt.Axis(format=",.2f")),
        alt.Y("layer:N", sort=["raw", "staging", "curated"], title=None),
        alt.Color("bucket:N", title="Bucket"),
        tooltip=[
            alt.Tooltip("layer:N", title="Layer"),
            alt.Tooltip("bucket:N", title="Bucket"),
            alt.Tooltip("size_mib:Q", title="Size (MiB)", format=",.2f"),
            alt.Tooltip("count_files:Q", title="Files", format=","),
            alt.Tooltip("count_small_files:Q", title="Small files", format=","),
        ],
    ),
    usage,
    "lake_usage",
)
ui.table(usage, "lake_usage_table")
