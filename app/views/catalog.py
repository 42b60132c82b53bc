"""Catalog and lineage: every model's documentation, columns and audits; the DAG from sources to marts."""

import pandas as pd
import streamlit as st

from app import components as ui
from app.queries import catalog as cat

settings = ui.app_settings()
st.title("Catalog and lineage")
try:
    with st.spinner("Loading the SQLMesh project…"):
        catalog = ui.catalog(settings)
except Exception as exc:  # a broken model file must not take the page down: say what SQLMesh said
    st.warning(f"The SQLMesh project could not be loaded: {exc}")
    st.stop()

query = st.text_input("Search models and columns", value=st.query_params.get("q", ""), placeholder="e.g. revenue, customer_id")
if query:
    st.query_params["q"] = query
else:
    st.query_params.pop("q", None)
found = catalog.search(query)
st.caption(f"{len(found)} of {len(catalog.models)} models")
st.subheader("Lineage")
st.graphviz_chart(cat.lineage_dot(catalog, {m.name for m in found} if query else set()), width="stretch")

summary = [
    {
        "model": m.name,
        "layer": m.layer,
        "kind": m.kind,
        "owner": m.owner,
        "grain": m.grain,
        "description": m.description,
        "audits": ", ".join(m.audits),
    }
    for m in found
]
st.subheader("Models")
ui.table(pd.DataFrame(summary, columns=["model", "layer", "kind", "owner", "grain", "description", "audits"]), "catalog")
st.subheader("Personal data")
flows = catalog.personal_flows()
if flows:
    st.caption(
        "Columns holding personal data, as their source declares them (`personal:` in config.yaml), and every column they flow "
        "into by SQLMesh column lineage, with the mask roles without access see (docs/privacy.md)."
    )
    ui.table(pd.DataFrame(flows), "personal_data_flows")
else:
    st.caption("No source declares personal columns (`personal:` in config.yaml).")

for model in found:
    with st.expander(f"{model.name} · {model.kind}"):
        st.markdown(model.description or "_No description._")
        st.markdown(
            f"**Owner** {model.owner or '–'} · **Grain** {model.grain or '–'} · "
            f"**Upstream** {', '.join(model.depends_on) or '–'} · **Audits** {', '.join(model.audits) or '–'}"
        )
        columns = pd.DataFrame([c.__dict__ for c in model.columns], columns=["name", "type", "description", "personal"])
        st.dataframe(columns, hide_index=True, width="stretch")
