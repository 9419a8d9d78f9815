"""The Grafana dashboard and the compose file's Prometheus + Grafana services, checked without
Docker: every series the dashboard queries is one our code exports, every series we export is
on the dashboard, and the files the services mount exist and agree on the ports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from infra import metrics as m

pytestmark = pytest.mark.unit
INFRA = Path(__file__).resolve().parents[2] / "infra"
DASHBOARD = INFRA / "grafana" / "fundarb.json"
SERIES = re.compile(r"\bfundarb_[a-z0-9_]+")


def queried() -> set[str]:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert exprs
    return {name for e in exprs for name in SERIES.findall(e)}


def test_every_series_the_dashboard_queries_is_exported() -> None:
    missing = queried() - m.names()
    assert not missing, f"dashboard queries series no code exports: {sorted(missing)}"


def test_every_exported_metric_is_on_the_dashboard() -> None:
    used = queried()
    families = {c._name for c in m.defined()}  # prometheus-client's family name
    unused = {f for f in families if not any(u.startswith(f) for u in used)}
    assert not unused, f"metrics not on the dashboard: {sorted(unused)}"


def test_dashboard_panels_are_well_formed() -> None:
    dash = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)) and dash["uid"] == "fundarb-live"
    for p in dash["panels"]:
        assert p["datasource"]["type"] == "prometheus"
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs))


def test_compose_runs_prometheus_and_grafana_on_the_files_here() -> None:
    compose = yaml.safe_load((INFRA / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "clickhouse", "prometheus", "grafana"} <= set(services)
    for name in ("prometheus", "grafana"):
        for vol in services[name]["volumes"]:
            src = vol.split(":")[0]
            if src.startswith("."):
                assert (INFRA / src).exists(), f"{name} mounts a missing {src}"
            else:
                assert src in compose["volumes"]
    scrape = yaml.safe_load((INFRA / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in scrape["scrape_configs"]
    }
    # fundarb live --metrics-port P serves itself on P and the worker on P + 1
    (live,) = targets["fundarb-live"]
    (worker,) = targets["fundarb-worker"]
    assert int(worker.rsplit(":", 1)[1]) == int(live.rsplit(":", 1)[1]) + 1
    datasource = yaml.safe_load(
        (INFRA / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    assert datasource["datasources"][0]["url"].endswith(":9090")
