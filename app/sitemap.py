"""The app's pages: (file in app/views/, title, icon); business users see the first list, operators both."""

BUSINESS_PAGES = [
    ("overview.py", "Overview", ":material/dashboard:"),
    ("trends.py", "Trends", ":material/trending_up:"),
    ("products.py", "Products and categories", ":material/category:"),
    ("customers.py", "Customers", ":material/group:"),
    ("explore.py", "Explore", ":material/query_stats:"),
]
OPERATOR_PAGES = [
    ("pipeline_health.py", "Pipeline health", ":material/monitor_heart:"),
    ("data_quality.py", "Data quality", ":material/rule:"),
    ("freshness.py", "Freshness", ":material/schedule:"),
    ("lake.py", "Lake", ":material/storage:"),
    ("catalog.py", "Catalog and lineage", ":material/account_tree:"),
    ("browser.py", "Data browser", ":material/table_view:"),
    ("environments.py", "Environments", ":material/compare_arrows:"),
    ("access_log.py", "Access log", ":material/visibility:"),
]
