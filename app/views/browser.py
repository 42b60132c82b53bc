"""Data browser: any published mart, with no code per mart: its schema, a filtered and sorted sample,
its rows over its time column, and the filtered rows as CSV.

Every choice is kept in the URL (`?table=&sort=&desc=&time=&f_<column>=`), so a view can be shared.
"""

import datetime as dt

import altair as alt
import pandas as pd
import streamlit as st

from app import access, charts, tables
from app import components as ui
from app.queries import browser
from core.errors import PlatformError
from metrics.display import GRAIN_LABELS

FILTER_PREFIX = "f_"
OPERATOR_LABELS = {"range": "between", "eq": "is", "contains": "contains"}

settings = ui.app_settings()
env = ui.environment_picker(settings)
st.title("Data browser")


def _filter_widget(column: browser.Column, current: browser.Filter | None) -> browser.Filter:
    """The widgets of one column's filter, by its kind, starting from the filter in the URL."""
    name = column.name
    operators: list[str] = list(browser.OPERATORS[column.kind])
    op_box, value_box = st.columns([1, 3])
    chosen = current.operator if current and current.operator in operators else operators[0]
    operator: str = op_box.selectbox(name, operators, index=operators.index(chosen), format_func=lambda op: OPERATOR_LABELS[op]) or chosen
    kept = current if current and current.operator == operator else None
    if operator == "range":
        low_box, high_box = value_box.columns(2)
        low, high = kept.low if kept else None, kept.high if kept else None
        if column.kind == "time":
            low_day = low_box.date_input(f"{name} from", value=_date(low), format="YYYY-MM-DD")
            high_day = high_box.date_input(f"{name} to", value=_date(high), format="YYYY-MM-DD")
            return browser.Filter(name, "range", low=_iso(low_day), high=_iso(high_day))
        low_number = low_box.number_input(f"{name} at least", value=_number(low))
        high_number = high_box.number_input(f"{name} at most", value=_number(high))
        return browser.Filter(name, "range", low=_plain(low_number), high=_plain(high_number))
    value = kept.value if kept else None
    if column.kind == "time":
        return browser.Filter(name, "eq", value=_iso(value_box.date_input(f"{name} is", value=_date(value), format="YYYY-MM-DD")))
    if column.kind == "number":
        return browser.Filter(name, "eq", value=_plain(value_box.number_input(f"{name} is", value=_number(value))))
    if column.kind == "boolean":
        options = ["", "true", "false"]
        flag = value_box.selectbox(f"{name} is", options, index=options.index(value) if value in options else 0)
        return browser.Filter(name, "eq", value=flag or None)
    text = value_box.text_input(f"{name} {OPERATOR_LABELS[operator]}", value=value or "")
    return browser.Filter(name, operator, value=text or None)


def _iso(day) -> str | None:
    return day.isoformat() if isinstance(day, dt.date) else None


def _plain(number: float | None) -> str | None:
    """A number as the URL keeps it: `5`, not `5.0`; `2.5` as it is."""
    if number is None:
        return None
    return str(int(number)) if float(number).is_integer() else repr(number)


def _date(text: str | None):
    try:
        return pd.Timestamp(text).date() if text else None
    except ValueError:
        return None


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _model_doc(table: str):
    """The mart's model documentation from the catalog, when the SQLMesh project loads; None otherwise."""
    try:
        return next((m for m in ui.catalog(settings).models if m.name == f"marts.{table}"), None)
    except Exception:  # noqa: BLE001 - the catalog page shows why the project does not load; the browser goes on without it
        return None


try:
    names = ui.published_query(settings, env, browser.tables)
    if not names:
        raise ui.NoData(f"The published version of {env} has no tables. " + ui.RUN_HINT)
    wanted = st.query_params.get("table", "")
    table = st.selectbox("Mart", names, index=names.index(wanted) if wanted in names else 0)
    st.query_params["table"] = table
    schema = ui.published_query(settings, env, browser.columns, table)
    by_name = {c.name: c for c in schema}
    for key in [k for k in st.query_params if k.startswith(FILTER_PREFIX) and k[len(FILTER_PREFIX) :] not in by_name]:
        del st.query_params[key]  # a filter of the mart shown before

    doc = _model_doc(table)
    published = ui.published_version(settings, env)
    access.page_viewed(settings, "Data browser", mart=table, version=published.version)
    facts = [f"**{published.rows.get(table, 0):,}** rows in version `{published.version}`"]
    if doc is not None:
        facts += [f"**Grain** {doc.grain or '–'}", f"**Owner** {doc.owner or '–'}"]
    st.markdown(" · ".join(facts))
    if doc is not None and doc.description:
        st.caption(doc.description)
    descriptions = {c.name: c.description for c in doc.columns} if doc is not None else {}
    with st.expander("Schema", expanded=False):
        st.dataframe(
            pd.DataFrame(
                [{"Column": c.name, "Type": c.type, "Description": descriptions.get(c.name, "")} for c in schema],
                columns=["Column", "Type", "Description"],
            ),
            hide_index=True,
            width="stretch",
        )

    in_url = {
        key[len(FILTER_PREFIX) :]: parsed
        for key, text in st.query_params.items()
        if key.startswith(FILTER_PREFIX) and (parsed := browser.Filter.from_param(key[len(FILTER_PREFIX) :], text)) is not None
    }
    unfit = sorted(name for name, item in in_url.items() if not item.fits(by_name[name].kind))
    if unfit:
        st.warning(f"Filters in the link that do not suit their column were left out: {', '.join(unfit)}.")
        in_url = {name: item for name, item in in_url.items() if name not in unfit}
    filtered_on = st.multiselect("Filter on", list(by_name), default=[c for c in by_name if c in in_url])
    filters = []
    for name in filtered_on:
        chosen = _filter_widget(by_name[name], in_url.get(name))
        filters.append(chosen)
        st.query_params[FILTER_PREFIX + name] = chosen.to_param()
    for key in [k for k in st.query_params if k.startswith(FILTER_PREFIX) and k[len(FILTER_PREFIX) :] not in filtered_on]:
        del st.query_params[key]

    sort_box, order_box = st.columns([3, 1])
    sort = ui.url_choice("Sort by", ["", *by_name], "sort", lambda c: c or "The mart's order", box=sort_box)
    descending = order_box.toggle("Descending", value=st.query_params.get("desc") == "1")
    if sort:
        st.query_params["desc"] = "1" if descending else "0"
    else:
        st.query_params.pop("desc", None)
    browse = browser.Browse(table, tuple(filters), sort or None, descending)

    matching = ui.published_query(settings, env, browser.count, browse)
    sample = ui.published_query(settings, env, browser.rows, browse)
    times = [c.name for c in schema if c.kind == "time"]
    series = grain = time_column = None
    if times:
        time_column = ui.url_choice("Over time by", times, "time")
        span = ui.published_query(settings, env, browser.time_span, browse, time_column)
        if span is not None:
            grain = span.grain
            series = ui.published_query(settings, env, browser.over_time, browse, time_column, grain)
    whole = ui.published_query(settings, env, browser.rows, browse, browser.DOWNLOAD_ROWS)
except ui.NoData as exc:
    ui.show_no_data(exc)
except PlatformError as exc:
    ui.show_error(exc)

st.subheader(f"{matching:,} matching rows")
if series is not None and not series.empty and grain is not None and time_column is not None:
    title = GRAIN_LABELS[grain]
    figure = (
        alt.Chart(series.assign(period_start=pd.to_datetime(series["period_start"])))
        .mark_bar(size=max(2, min(40, 700 // len(series))))  # a temporal axis draws thin bars: as wide as the periods allow
        .encode(
            charts.period_axis("period_start", series["period_start"], grain, f"{title} of {time_column}"),
            alt.Y("count_rows:Q", title="Rows"),
            tooltip=[alt.Tooltip("period_start:T", title=title, format="%Y-%m-%d"), alt.Tooltip("count_rows:Q", title="Rows", format=",")],
        )
    )
    st.altair_chart(figure, width="stretch")
    st.caption(f"Matching rows per {grain} of `{time_column}`.")
elif times:
    st.caption(f"No matching row has a `{time_column}`.")

shown, config = tables.readable(sample)
labels = tables.labels(shown.columns)
st.dataframe(shown.rename(columns=labels), hide_index=True, width="stretch", column_config={labels[c]: v for c, v in config.items()})
if matching > len(sample):
    st.caption(f"The first {len(sample):,} of {matching:,} matching rows; the download holds up to {browser.DOWNLOAD_ROWS:,}.")
if matching > len(whole):
    st.warning(f"The download holds the first {len(whole):,} of {matching:,} matching rows: filter further for the rest.")
ui.download(
    whole,
    f"{table}_{env}" if env != "prod" else table,
    make=ui.published_reader(settings, env, browser.rows, browse, browser.DOWNLOAD_ROWS),
)
