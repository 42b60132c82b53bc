"""The Streamlit app: dashboards on the published marts, health and catalog views on the metadata store."""
