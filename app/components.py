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

from app import access, downloads, tables
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
        st.query_params["env"] = chosen
    else:
        st.query_params.pop("env", None)
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


def table(frame: pd.DataFrame, name: str, styles: Callable[[Any], Any] | None = None) -> None:
    """A table under readable headers and formats (app.tables), with a CSV download of what it shows.

    `styles` takes the pandas Styler of the labelled frame and returns it styled (cell colours).
    """
    shown, config = tables.readable(frame)
    labels = tables.labels(shown.columns)
    shown = shown.rename(columns=labels)
    config = {labels[column]: value for column, value in config.items()}
    _show(shown if styles is None else styles(shown.style), name, config)
    download(shown, name)


def _show(data: Any, name: str, config: dict[str, Any]) -> None:
    st.dataframe(data, hide_index=True, width="stretch", column_config=config)


# Streamlit's named number formats, per metric format; dates by grain (moment.js patterns).
NUMBER_FORMATS = {"money": "euro", "count": "localized", "ratio": "percent"}
DATE_FORMATS = {"day": "YYYY-MM-DD", "week": "YYYY-MM-DD", "month": "MMM YYYY", "quarter": "YYYY [Q]Q", "year": "YYYY"}


def metric_table(frame: pd.DataFrame, name: str, grain: str | None = None, extra: dict[str, tuple[str, str]] | None = None) -> None:
    """A table of `metrics.layer.run` output: columns under their labels, values in their metric's format.

    `extra` names other columns as `{column: (label, format)}`.
    """
    cat = layer.catalog()
    labels: dict[str, str] = {}
    config: dict[str, Any] = {}
    for column in frame.columns:
        if column == layer.PERIOD_COLUMN:
            label = display.GRAIN_LABELS[grain or "day"]
            config[label] = st.column_config.DateColumn(label, format=DATE_FORMATS[grain or "day"])
        elif column in cat.metrics:
            metric = cat.metrics[column]
            label = metric.label
            config[label] = st.column_config.NumberColumn(label, format=NUMBER_FORMATS[metric.format], help=metric.description)
        elif extra and column in extra:
            label, fmt = extra[column]
            config[label] = st.column_config.NumberColumn(label, format=NUMBER_FORMATS[fmt])
        else:
            label = cat.dimensions[column].label if column in cat.dimensions else column.replace("_", " ").capitalize()
        labels[column] = label
    shown = frame.rename(columns=labels)
    _show(shown, name, config)
    download(shown, name)


def chart(figure: Any, frame: pd.DataFrame, name: str) -> None:
    """An Altair chart with a CSV download of the data behind it."""
    st.altair_chart(figure, width="stretch")
    download(frame, name)


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


def _param_date(name: str) -> dt.date | None:
    with contextlib.suppress(ValueError, TypeError):
        return dt.date.fromisoformat(st.query_params.get(name, ""))
    return None


def period_picker(first: dt.date, last: dt.date, default_days: int = 30) -> Period:
    """A date range picker; by default the last `default_days` days of data, relative to the newest data.

    Dates the user picks go into the URL (`?start=&end=`) and the session, so a shared link shows
    the same days and the next page keeps them. Until then the URL holds no dates, so a reload
    after new data arrives shows the newest days.
    """
    relative = Period(max(first, last - dt.timedelta(days=default_days - 1)), last)
    start, end = _param_date("start"), _param_date("end")
    if start is None or end is None:
        start, end = st.session_state.get("period", (relative.start, relative.end))
    start, end = min(max(start, first), last), min(max(end, first), last)
    picked = st.date_input(
        "Period",
        value=(start, max(end, start)),
        min_value=first,
        max_value=last,
        format="YYYY-MM-DD",
        help=f"The last {default_days} days of data unless you pick dates",
    )
    if isinstance(picked, (tuple, list)) and len(picked) == 2:
        start, end = picked
    if (start, end) == (relative.start, relative.end) and "start" not in st.query_params:
        st.session_state.pop("period", None)
    else:
        st.query_params["start"], st.query_params["end"] = start.isoformat(), end.isoformat()
        st.session_state["period"] = (start, end)
    return Period(start, end)


def url_choice(label: str, options: list[str], param: str, format_func: Callable[[str], str] = str, box: Any = st) -> str:
    """A select box whose choice lives in the URL as `?<param>=`: a link naming an unknown option gets the first.

    An empty choice (an option "") leaves `param` out of the URL. `box` is where it is drawn (a column).
    """
    wanted = st.query_params.get(param, "")
    choice = box.selectbox(label, options, index=options.index(wanted) if wanted in options else 0, format_func=format_func)
    if choice:
        st.query_params[param] = choice
    else:
        st.query_params.pop(param, None)
    return choice


def grain_picker() -> str:
    """Day, week or month, kept in the URL as `?grain=`."""
    current = st.query_params.get("grain", "day")
    grain = st.segmented_control("Grain", GRAINS, default=current if current in GRAINS else "day") or "day"
    st.query_params["grain"] = grain
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
