"""What every page shares: settings, cached queries on the published version, URL filters, downloads, empty states."""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import duckdb
import pandas as pd
import streamlit as st

from app import access, charts, downloads, tables
from app.queries.business import GRAINS, Period
from app.queries.catalog import Catalog, load_catalog, project_fingerprint
from app.queries.environments import published_environments
from core.errors import PlatformError
from core.settings import Settings, load_settings
from metrics import display, layer
from publish.marts import ENVIRONMENT, PROD
from publish.reader import Published, connect_published, current_version

PROJECT_DIR = Path(__file__).resolve().parents[1]
RUN_HINT = "Run `just run` to ingest the demo shop, build the models and publish the marts."


class NoData(Exception):
    """A page cannot show its data; the message says why and what to do."""


def app_settings() -> Settings:
    """The platform settings; a bad config stops the page with the message, not a traceback."""
    try:
        return load_settings(PROJECT_DIR)
    except PlatformError as exc:
        st.error(str(exc))
        st.stop()


MAX_ENVIRONMENT_NAME = 63


def environment() -> str:
    """The environment the business pages show (`?env=` in the URL), prod by default."""
    name = st.query_params.get("env", PROD)
    if not ENVIRONMENT.match(name) or len(name) > MAX_ENVIRONMENT_NAME:
        # the URL's text is never shown back: it could carry a link or markup
        st.sidebar.warning("The `env` of the URL is not an environment name; showing prod.")
        return PROD
    return name


def environment_picker(settings: Settings) -> str:
    """A sidebar switch between prod and the published dev environments, kept in the URL."""
    try:
        names = list(published_environments(settings)) or [PROD]
    except PlatformError as exc:
        st.sidebar.warning(str(exc))
        names = [PROD]
    current = environment()
    if current not in names and current != PROD:
        st.sidebar.warning("The `env` of the URL names no published environment; showing prod.")
        current = PROD
    if current not in names:
        names.append(current)
    chosen = st.sidebar.selectbox("Environment", names, index=names.index(current), help="Show a dev environment before promotion")
    if chosen != PROD:
        st.sidebar.info(f"Showing the **{chosen}** environment's published marts, not prod.")
    keep_in_url("env", chosen, PROD)
    return chosen


def published_version(settings: Settings, env: str) -> Published:
    try:
        published = current_version(settings, env)
    except PlatformError as exc:
        raise NoData(str(exc)) from None
    if published is None:
        raise NoData(f"Nothing is published for {env} yet. " + (RUN_HINT if env == PROD else f"Plan and publish `{env}` first."))
    return published


def viewer_role() -> str | None:
    """The logged-in user's role; None without logins (open local access), which sees personal data masked."""
    return st.session_state.get("role")


def published_query(settings: Settings, env: str, query: Callable[..., Any], *args: Any) -> Any:
    """`query(con, *args)` on the environment's published marts as the viewer's role sees them, cached until the next publish."""
    published = published_version(settings, env)
    try:
        return _cached(
            str(settings.data_dir),
            env,
            published.version,
            viewer_role(),
            f"{query.__module__}.{query.__qualname__}",
            args,
            _settings=settings,
            _query=query,
        )
    except (duckdb.Error, OSError, PlatformError) as exc:
        raise NoData(f"The published data of {env} (version {published.version}) could not be read: {exc}") from None


def published_reader(settings: Settings, env: str, query: Callable[..., Any], *args: Any) -> Callable[[str | None], Any]:
    """`query(con, *args)` on the environment's published marts, read when called, as the role it is given sees them."""

    def read(role: str | None) -> Any:
        con, _ = connect_published(settings, env, role=role)
        with contextlib.closing(con):
            return query(con, *args)

    return read


@st.cache_data(show_spinner=False, max_entries=512)
def _cached(
    data_dir: str, env: str, version: str, role: str | None, name: str, args: tuple, *, _settings: Settings, _query: Callable
) -> Any:
    con, _ = connect_published(_settings, env, role=role)
    with contextlib.closing(con):
        return _query(con, *args)


def catalog(settings: Settings) -> Catalog:
    """The model catalog, loaded once per version of the project's model files."""
    return _catalog(project_fingerprint(settings), _settings=settings)


@st.cache_data(show_spinner=False, max_entries=4)
def _catalog(fingerprint: tuple, *, _settings: Settings) -> Catalog:
    return load_catalog(_settings)


@st.cache_resource(show_spinner=False)
def warm_catalog(data_dir: str, _settings: Settings) -> None:
    """Load the catalog in the background once per server, so its first visitor does not wait for SQLMesh."""
    threading.Thread(target=_load_quietly, args=(_settings,), daemon=True).start()


def _load_quietly(settings: Settings) -> None:
    try:
        catalog(settings)
    except Exception:  # noqa: BLE001 - the catalog page shows the error when it is visited
        pass


def show_no_data(exc: NoData) -> NoReturn:
    """Say why the page has no data and what to do, and end the page there."""
    st.info(str(exc), icon="ℹ️")
    st.stop()


def show_error(exc: PlatformError) -> NoReturn:
    """Say what failed as the platform words it (no traceback), and end the page there."""
    st.warning(str(exc))
    st.stop()


def missing_table(name: str, owner: str) -> None:
    st.info(f"No `{name}` in the metadata store yet: it fills once {owner} runs. {RUN_HINT}", icon="ℹ️")


def meta_table(frame: pd.DataFrame | None, name: str, *, source: str, owner: str, empty: str | None = None) -> None:
    """A table from the metadata store: a hint while `source` is not there yet, `empty` (if given) when it has no rows."""
    if frame is None:
        missing_table(source, owner)
    elif empty is not None and frame.empty:
        st.success(empty)
    else:
        table(frame, name)


def table(frame: pd.DataFrame, name: str, styles: Callable[[Any], Any] | None = None, csv: pd.DataFrame | None = None) -> None:
    """A table under readable headers and formats (app.tables), with a CSV download of its values (app.tables.for_download).

    `styles` takes the pandas Styler of the labelled frame and returns it styled (cell colours);
    `csv` is what to download when the table shows formatted text (the values behind it).
    """
    shown, config = tables.readable(frame)
    labels = tables.labels(shown.columns)
    shown = shown.rename(columns=labels)
    config = {labels[column]: value for column, value in config.items()}
    _show(shown if styles is None else styles(shown.style), name, config)
    download(tables.for_download(frame if csv is None else csv), name)


def _show(data: Any, name: str, config: dict[str, Any]) -> None:
    st.dataframe(data, hide_index=True, width="stretch", column_config=config)


# Streamlit's named number formats, per metric format; dates by grain (moment.js patterns).
NUMBER_FORMATS = {"money": "euro", "count": "localized", "ratio": "percent"}
DATE_FORMATS = {"day": "YYYY-MM-DD", "week": "YYYY-MM-DD", "month": "MMM YYYY", "quarter": "YYYY [Q]Q", "year": "YYYY"}
PARTIAL = "Partial period"


def _number_format(fmt: str, places: int) -> str:
    """Streamlit's format for a metric: the named one at the format's own decimals, else printf with the declared ones."""
    if places == display.DEFAULT_DECIMALS[fmt]:
        return NUMBER_FORMATS[fmt]
    return f"%.{places}f%%" if fmt == "ratio" else f"%.{places}f"


def metric_table(
    frame: pd.DataFrame,
    name: str,
    grain: str | None = None,
    extra: dict[str, tuple[str, str]] | None = None,
    period: Period | None = None,
) -> None:
    """A table of `metrics.layer.run` output: columns under their labels, values in their metric's format.

    `extra` names other columns as `{column: (label, format)}`. With a `period` that covers a week
    or month only in part, a "Partial period" column gives the days it covers (blank for whole ones).
    The CSV holds the values (money to the cent, ratios as fractions) under headers with their unit.
    """
    cat = layer.catalog()
    labels: dict[str, str] = {}
    headers: dict[str, str] = {}
    config: dict[str, Any] = {}
    csv = frame.copy()
    for column in frame.columns:
        if column == layer.PERIOD_COLUMN:
            label = display.GRAIN_LABELS[grain or "day"]
            config[label] = st.column_config.DateColumn(label, format=DATE_FORMATS[grain or "day"])
        elif column in cat.metrics:
            metric = cat.metrics[column]
            label = metric.label
            places = display.decimals(metric)
            config[label] = st.column_config.NumberColumn(label, format=_number_format(metric.format, places), help=metric.description)
            csv[column] = csv[column].round(2 if metric.format == "money" else 6)
            headers[column] = display.titled(metric)
        elif extra and column in extra:
            label, fmt = extra[column]
            config[label] = st.column_config.NumberColumn(label, format=NUMBER_FORMATS[fmt])
            csv[column] = csv[column].round(2 if fmt == "money" else 6)
        else:
            label = cat.dimensions[column].label if column in cat.dimensions else column.replace("_", " ").capitalize()
        labels[column] = label
    if period is not None and grain is not None and layer.PERIOD_COLUMN in frame.columns:
        cut = partial_days(frame[layer.PERIOD_COLUMN], grain, period)
        if cut.any():
            at = list(frame.columns).index(layer.PERIOD_COLUMN) + 1
            frame, csv = frame.copy(), csv.copy()
            frame.insert(at, PARTIAL, cut)
            csv.insert(at, PARTIAL, cut)
    shown = frame.rename(columns=labels)
    _show(shown.assign(**{column: shown[column].map(display.enum_label) for column in _dimension_labels(frame, cat, labels)}), name, config)
    download(csv.rename(columns={**labels, **headers}), name)


def _dimension_labels(frame: pd.DataFrame, cat: layer.Catalog, labels: dict[str, str]) -> list[str]:
    return [labels[column] for column in frame.columns if column in cat.dimensions]


def partial_days(starts: pd.Series, grain: str, period: Period) -> pd.Series:
    """For each period starting at `starts`: "2025-04-02 to 2025-04-30" where `period` covers it only in part, else ""."""
    dated = pd.to_datetime(starts)
    partial = charts.partial_periods(dated, grain, period.start, period.end)
    ends = dated + charts.GRAIN_STEPS.get(grain, pd.DateOffset(days=1)) - pd.Timedelta(days=1)
    return pd.Series(
        [
            f"{max(s.date(), period.start)} to {min(e.date(), period.end)}" if cut else ""
            for s, e, cut in zip(dated, ends, partial, strict=True)
        ],
        index=starts.index,
    )


def chart(figure: Any, frame: pd.DataFrame, name: str) -> None:
    """An Altair chart with a CSV download of the data behind it."""
    st.altair_chart(figure, width="stretch")
    download(tables.for_download(frame), name)


# A download link looks like the app's buttons.
DOWNLOAD_STYLE = (
    "display:inline-block;padding:0.35rem 0.75rem;border:1px solid rgba(49,51,63,0.2);border-radius:0.5rem;"
    "text-decoration:none;color:inherit;font-size:0.9rem"
)


def download(frame: pd.DataFrame, name: str, make: Callable[[str | None], pd.DataFrame] | None = None) -> None:
    """A link to `frame` as CSV, served by the app's server to this user only, and logged (app/downloads.py).

    `make(role)` reads the rows again when the download is asked for; without it, the rows this
    page read for the viewer's role are sent.
    """
    url = downloads.offer(st.session_state.get("user"), viewer_role(), name, access.current_page(), make or (lambda role: frame))
    label = html.escape(f"Download {name.replace('_', ' ')} (CSV)")
    st.html(f'<a href="{html.escape(url)}" download="{html.escape(name)}.csv" style="{DOWNLOAD_STYLE}">{label}</a>')


def keep_in_url(param: str, value: str, default: str = "") -> None:
    """Put `value` in the URL as `?<param>=`, leaving it out while it is `default` and the URL names none.

    Only a change writes: every write adds a browser history entry, so a page that wrote on
    every load would trap the Back button.
    """
    if st.query_params.get(param, default) == value:
        return
    if value == default:
        st.query_params.pop(param, None)
    else:
        st.query_params[param] = value


def _linked_period(first: dt.date, last: dt.date, default: str) -> tuple[dt.date, dt.date] | None:
    """The days a link names (`?start=&end=`) within the data; None, saying why, for none or an impossible pair."""
    named = {key: st.query_params.get(key) for key in ("start", "end")}
    if named["start"] is None and named["end"] is None:
        return None
    days: dict[str, dt.date] = {}
    for key, text in named.items():
        try:
            days[key] = dt.date.fromisoformat(text or "")
        except ValueError:
            shown = f"`{key}={text}` is not a date (YYYY-MM-DD)" if text is not None else f"it has no `{key}=`"
            st.warning(f"The link's period cannot be shown: {shown}. Showing {default} instead.")
            return None
    start, end = days["start"], days["end"]
    if start > end:
        st.warning(f"The link's period starts after it ends (`start={start}`, `end={end}`). Showing {default} instead.")
        return None
    if end < first or start > last:
        st.warning(f"The link asks for {start} to {end}; the published data covers {first} to {last}. Showing {default} instead.")
        return None
    if start < first or end > last:
        start, end = max(start, first), min(end, last)
        asked = f"{days['start']} to {days['end']}"
        st.info(f"The link asks for {asked}; the published data covers {first} to {last}, so this is {start} to {end}.")
    return start, end


def period_picker(settings: Settings, first: dt.date, last: dt.date) -> Period:
    """A date range picker; by default the newest `app.default_period_days` days of data.

    Dates the user picks go into the URL (`?start=&end=`) and the session, so a shared link shows
    the same days and the next page keeps them. Until then the URL holds no dates, so a reload
    after new data arrives shows the newest days. A link with impossible dates says so.
    """
    days = settings.app.default_period_days
    relative = Period(max(first, last - dt.timedelta(days=days - 1)), last)
    default = f"the newest {days} days of data ({relative.start} to {relative.end})"
    linked = _linked_period(first, last, default)
    if linked is not None:
        start, end = linked
    else:
        start, end = st.session_state.get("period", (relative.start, relative.end))
        start, end = min(max(start, first), last), min(max(end, first), last)
        end = max(end, start)
    picked = st.date_input(
        "Period",
        value=(start, end),
        min_value=first,
        max_value=last,
        format="YYYY-MM-DD",
        help=f"Unless you pick dates, {default}: `app.default_period_days` in config.yaml",
    )
    if isinstance(picked, (tuple, list)) and len(picked) == 2 and tuple(picked) != (start, end):
        start, end = picked
        st.query_params["start"], st.query_params["end"] = start.isoformat(), end.isoformat()
        st.session_state["period"] = (start, end)
    return Period(start, end)


def url_choice(label: str, options: list[str], param: str, format_func: Callable[[str], str] = str, box: Any = st) -> str:
    """A select box whose choice lives in the URL as `?<param>=`: a link naming an unknown option gets the first.

    An empty choice (an option "") leaves `param` out of the URL. `box` is where it is drawn (a column).
    """
    wanted = st.query_params.get(param, "")
    choice = box.selectbox(label, options, index=options.index(wanted) if wanted in options else 0, format_func=format_func)
    keep_in_url(param, choice)
    return choice


def grain_picker() -> str:
    """Day, week or month, kept in the URL as `?grain=`."""
    current = st.query_params.get("grain", "day")
    grain = st.segmented_control("Grain", GRAINS, default=current if current in GRAINS else "day") or "day"
    keep_in_url("grain", grain, "day")
    return grain


def meta_available(settings: Settings) -> bool:
    """False (with an explanation) before anything ever ran."""
    if settings.meta_path.exists():
        return True
    st.info(f"No metadata store at {settings.meta_path} yet: nothing has run. {RUN_HINT}", icon="ℹ️")
    return False


def env_for_auth() -> dict[str, str | None]:
    """The process environment over `.env`: where password hashes come from."""
    from dotenv import dotenv_values

    return {**dotenv_values(PROJECT_DIR / ".env"), **os.environ}
