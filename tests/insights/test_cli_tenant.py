"""``--tenant`` on ``b2sync report monthly`` and ``b2sync insights show``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from b2sync.cli import app

runner = CliRunner()


def _config(tmp_path: Path, url: str, tenants: list[str]) -> Path:
    shops = "".join(
        f"  shop-{t}:\n    type: b2connect\n    url: http://127.0.0.1:9\n    token: ${{T}}\n"
        f"    tenant_id: {t}\n"
        for t in tenants
    )
    pipes = "".join(
        f"  - name: orders-{t}\n    b2connect: {{connection: shop-{t}, stream: orders}}\n"
        f"    crm: {{connection: hs, object: orders}}\n"
        f"    fields: [{{b2connect: orderNumber, crm: hs_order_name}}]\n"
        for t in tenants
    )
    text = (
        f"version: 1\nstate_url: {url}\nconnections:\n{shops}"
        "  hs:\n    type: hubspot\n    url: http://127.0.0.1:9\n    token: ${T}\n"
        f"pipelines:\n{pipes}"
    )
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T", "token")


def _report(config: Path, tmp_path: Path, *extra: str) -> tuple[int, str]:
    out = tmp_path / "r.md"
    args = ["report", "monthly", "--month", "2026-06", "-o", str(out), "-c", str(config), *extra]
    result = runner.invoke(app, args)
    return result.exit_code, result.output


def test_several_tenants_without_tenant_exit_2_listing_them(
    tmp_path: Path, sqlite_store_url: str
) -> None:
    """Two tenants and no --tenant: usage error naming both."""
    code, output = _report(_config(tmp_path, sqlite_store_url, ["ta", "tb"]), tmp_path)
    assert code == 2
    assert "ta, tb" in output and "--tenant" in output


def test_tenant_chooses_the_report(tmp_path: Path, sqlite_store_url: str) -> None:
    """--tenant picks one of several tenants."""
    config = _config(tmp_path, sqlite_store_url, ["ta", "tb"])
    code, output = _report(config, tmp_path, "--tenant", "tb")
    assert code == 0, output
    assert (tmp_path / "r.md").read_text(encoding="utf-8").startswith("# CRM & retention report")


def test_unknown_tenant_exits_2(tmp_path: Path, sqlite_store_url: str) -> None:
    """A tenant the config does not have is a usage error."""
    code, output = _report(_config(tmp_path, sqlite_store_url, ["ta"]), tmp_path, "--tenant", "x")
    assert code == 2
    assert "no tenant 'x'" in output


def test_the_only_tenant_is_the_default(tmp_path: Path, sqlite_store_url: str) -> None:
    """One tenant: no --tenant needed."""
    code, output = _report(_config(tmp_path, sqlite_store_url, ["ta"]), tmp_path)
    assert code == 0, output


def test_insights_show_takes_tenant_too(tmp_path: Path, sqlite_store_url: str) -> None:
    """insights show refuses to guess among several tenants."""
    config = _config(tmp_path, sqlite_store_url, ["ta", "tb"])
    result = runner.invoke(app, ["insights", "show", "--customer", "c-1", "-c", str(config)])
    assert result.exit_code == 2
    assert "--tenant" in result.output
