"""The memory benchmark's own plumbing (issue 18): the emulators' CA file lives in the run's
directory, not loose in /tmp where a cleaner removed it mid-run (a 30,000-customer run was
lost that way), and the RSS trace attributes its samples to the pipelines running."""

from __future__ import annotations

from pathlib import Path

from bench.backfill import RssTrace, read_env, start_emulators, stop_emulators


def test_emulators_keep_their_tls_files_in_the_runs_directory(tmp_path: Path) -> None:
    """The Salesforce emulator's CA file is under the directory of the env file."""
    env_file = tmp_path / "run" / "env"
    env_file.parent.mkdir()
    proc = start_emulators(3, env_file)
    try:
        ca_file = Path(read_env(env_file)["B2SYNC_SALESFORCE_CA_FILE"])
        assert ca_file.is_file()
        assert ca_file.resolve().is_relative_to(env_file.parent.resolve())
    finally:
        stop_emulators(proc)


def test_rss_trace_keeps_a_peak_per_phase() -> None:
    """Samples taken while a phase runs count towards its peak; two phases running side by
    side both get them; a phase that never ran has none."""
    trace = RssTrace(every=3600)  # no timed samples: only those of enter/leave
    trace.enter("customers-to-hubspot")
    trace.enter("customers-to-salesforce")
    trace.leave("customers-to-hubspot")
    trace.leave("customers-to-salesforce")
    out = trace.stop()
    assert set(out["peak_mb"]) == {"customers-to-hubspot", "customers-to-salesforce"}
    assert all(mb > 0 for mb in out["peak_mb"].values())
    assert [phases for _, _, phases in out["samples"]] == [
        ["customers-to-hubspot"],
        ["customers-to-hubspot", "customers-to-salesforce"],
        ["customers-to-hubspot", "customers-to-salesforce"],
        ["customers-to-salesforce"],
    ]
