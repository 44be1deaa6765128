"""`portal demo --federated`: three nodes prepared, served, linked, and where to log in
printed; a second run reuses them (issue 16). Bounded: the nodes stop when it returns."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import create_engine, text

from portal.cli import main as cli


def _free_base_port() -> int:
    for start in range(20_000, 60_000, 97):
        taken = False
        for port in range(start, start + 3):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    taken = True
                    break
        if not taken:
            return start
    raise RuntimeError("no three free ports in a row")


def test_federated_demo_prepares_serves_links_and_says_where_to_log_in(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    port = _free_base_port()
    assert cli.main(["demo", "--federated", "--no-serve", "--port", str(port)]) == 0
    out = capsys.readouterr().out
    assert "linked each case to the clients on the other nodes" in out
    for offset, name in enumerate(("node-a", "node-b", "node-c")):
        assert f"{name}: http://127.0.0.1:{port + offset}/" in out
    assert "Harbor County Child Welfare Office (demo): casemanager, cw.lead" in out
    folder = tmp_path / "portal-federated-demo"
    assert {p.name for p in folder.glob("node-*.db")} == {"node-a.db", "node-b.db", "node-c.db"}
    assert (folder / "nodes.json").stat().st_mode & 0o077 == 0
    # Issue 20: minors with a clear concern screened by partners, each on its own node.
    for node, references in (("node-b", {"HAR-SCR-01"}), ("node-c", {"LAN-SCR-01", "LAN-SCR-02"})):
        engine = create_engine(f"sqlite:///{folder / (node + '.db')}")
        with engine.connect() as connection:
            screened = connection.execute(
                text("SELECT c.reference FROM screening s JOIN client c ON c.id = s.client_id")
            )
            assert {reference for (reference,) in screened} == references, node
        engine.dispose()
    # Again: the same nodes, their keys still open with the saved key-encryption keys.
    assert cli.main(["demo", "--federated", "--no-serve", "--port", str(port)]) == 0
    assert "reusing the federated demo" in capsys.readouterr().out
    # Other addresses than the saved ones are refused, in one line.
    assert cli.main(["demo", "--federated", "--no-serve", "--port", str(port + 10)]) == 4


class _Planned(Exception):
    """Stops the demo once it has chosen its nodes' addresses."""


def test_the_federated_demo_takes_the_port_it_is_given_even_the_one_node_demos(
    tmp_path, monkeypatch
):
    """Before: `--port 8000` with --federated silently served on 8101 (8000 stood for
    "no --port"), though `--help` promised --port and the next two."""
    from portal.demo import federated

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    asked = []

    def plan(directory, *, host, port):
        asked.append(port)
        raise _Planned

    monkeypatch.setattr(federated, "plan", plan)
    for arguments, first_port in ((["--port", "8000"], 8000), ([], 8101)):
        cli.main(["demo", "--federated", "--no-serve", *arguments])  # stopped by plan()
        assert asked.pop() == first_port


def test_a_federated_demo_whose_last_node_has_no_port_builds_nothing(tmp_path, monkeypatch, capsys):
    """Before: --port 65535 prepared all three nodes, node-b would not start ("65536 is not
    a port"), and the next run called the half-built nodes ready."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert cli.main(["demo", "--federated", "--no-serve", "--port", "65534"]) == 2
    assert "at most 65533" in capsys.readouterr().err
    assert not (tmp_path / "portal-federated-demo").exists()


def test_a_federated_demo_that_never_finished_is_not_reused(tmp_path, monkeypatch, capsys):
    """A folder with the nodes' databases but no saved state is what a run that failed on
    the way leaves: refused in one line, not prepared over nor called ready."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    folder = tmp_path / "portal-federated-demo"
    folder.mkdir()
    (folder / "node-a.db").write_bytes(b"")
    assert cli.main(["demo", "--federated", "--no-serve", "--port", "20001"]) == 4
    assert "never finished being prepared" in capsys.readouterr().err


@pytest.mark.parametrize("refusal", ["a port taken", "a setting the nodes refuse"])
def test_a_federated_demo_whose_nodes_cannot_serve_builds_nothing(
    tmp_path, monkeypatch, capsys, refusal
):
    """Before: found only once the three nodes were prepared ('node-b stopped (exit 3); its
    log is …'), and the next run refused the folder left behind as a demo that never
    finished being prepared."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    port = _free_base_port()
    with socket.socket() as taken:
        if refusal == "a port taken":
            taken.bind(("127.0.0.1", port + 1))
            taken.listen()
            said = f"error: port {port + 1} on 127.0.0.1 is already in use"
        else:
            monkeypatch.setenv("PORTAL_SESSION_IDLE_MINUTES", "0")
            said = "error: cannot read the settings: PORTAL_SESSION_IDLE_MINUTES must be"
        status = cli.main(["demo", "--federated", "--no-serve", "--port", str(port)])
    err = capsys.readouterr().err
    assert status == 3 and err.count("\n") == 1 and err.startswith(said), (status, err)
    assert not (tmp_path / "portal-federated-demo").exists()
