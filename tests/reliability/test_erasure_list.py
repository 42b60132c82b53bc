"""Drill: the metadata store is lost after an erasure. The erasure list survives in the lake beside raw,
`just doctor` restores it, and a reingest and a change of the subject at the source do not bring the
subject's personal values back; with no list anywhere, ingest refuses to run.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core.erasure_list import COPY
from core.erasures import TOMBSTONE, erasures
from core.errors import PlatformError
from core.lake import Lake
from pipeline.erasure import erase
from pipeline.recovery import doctor, reingest
from pipeline.run import run_all
from publish.marts import marts_folder
from publish.reader import connect_published
from tests.support.erasure_search import find_values
from tests.support.reconcile import assert_marts_match_source

NAME, EMAIL = "Ulrike Canary-Lost", "ucl-lost-store-canary@example.org"


def _published_customer(settings, customer: int) -> tuple:
    con, _ = connect_published(settings, role="operator")
    with con:
        return con.execute("SELECT customer_name, customer_email FROM marts.dim_customers WHERE customer_id = ?", [customer]).fetchone()


def test_the_erasure_list_survives_the_loss_of_the_metadata_store(built_copy):
    settings = built_copy
    with sqlite3.connect(settings.source_path("shop")) as con:
        [(customer,)] = con.execute("SELECT customer_id FROM orders GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchall()
    erase(settings, "shop.customers", str(customer))
    copy = Path(Lake(settings).url("raw", "shop", COPY))
    assert copy.is_file()
    kept = copy.read_bytes()

    # neither the store nor the copy: the list is gone, and ingest refuses rather than load the subject again
    settings.meta_path.unlink()
    copy.unlink()
    with pytest.raises(PlatformError) as refused:
        run_all(settings)
    message = str(refused.value)
    assert "The erasure list of source 'shop' is not available" in message and str(copy) in message and "\n" not in message
    checked = {finding.what: finding for finding in doctor(settings, repair=False)}
    assert not checked["erasure list of shop"].ok

    # the copy back (from a backup), the store still lost: doctor restores the list into a new store
    copy.write_bytes(kept)
    findings = doctor(settings, repair=True)
    assert any(f.what == "repair: erasure list of shop" and "restored 1 erased key(s)" in f.detail for f in findings), findings
    assert [(e.source, e.table, e.key) for e in erasures(settings.meta_path)] == [("shop", "customers", str(customer))]

    # the table is read again whole, then the subject changes at the source and the next run loads it
    reingest(settings, "shop", "customers")
    with sqlite3.connect(settings.source_path("shop")) as con:
        con.execute(
            "UPDATE customers SET name = ?, email = ?, updated_at = (SELECT datetime(max(updated_at), '+1 second') FROM customers) "
            "WHERE id = ?",
            (NAME, EMAIL, customer),
        )
    assert run_all(settings).rows_loaded["shop"]["customers"] >= 1
    assert _published_customer(settings, customer) == (TOMBSTONE, TOMBSTONE)
    assert find_values(Path(marts_folder(settings)), [NAME, EMAIL.split("@")[0]]) == []
    assert find_values(Path(Lake(settings).url("raw", "shop")), [NAME, EMAIL.split("@")[0]]) == []
    assert_marts_match_source(settings)
