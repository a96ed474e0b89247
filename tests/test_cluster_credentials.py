"""Where the roles' NATS credentials come from and go: the environment only, each role its own,
a private file for the local server, a deployment block without secrets, TLS settings."""

from __future__ import annotations

import os
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from bot.cli import main
from bot.cluster_cli import roles
from ops.cluster.config import cluster_config
from ops.cluster.connection import tls_context
from ops.cluster.credentials import (
    PASSWORD_ENV,
    USER_ENV,
    generate_logins,
    login_from_env,
    oms_user,
    worker_user,
)
from ops.cluster.permissions import Layout, password_variable
from ops.cluster.server import SERVER_CONF, server_binary, write_private
from ops.config.settings import load_settings
from ops.shared.errors import ConfigError
from tests.support import write_config

LAYOUT = Layout(("a", "b"), {"MR": "a", "Trend": "b"}, 4)


def test_each_role_of_tradebot_cluster_is_given_its_own_user_and_no_other_password() -> None:
    """The order manager of `a` gets oms.a's password, a worker its strategy's user, the
    gateway and the ingestor theirs; no role's environment holds another user's password."""
    logins = generate_logins(LAYOUT.users())
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}
    plan = roles(["MR", "Trend"], ["a", "b"], 4, 2, ("--config", "c.yaml"), (), env, logins)
    users = {role.name: role.env[USER_ENV] for role in plan}
    assert users == {
        "oms.a": oms_user("a"),
        "oms.b": oms_user("b"),
        "worker.MR.p00-01": worker_user("MR"),
        "worker.MR.p02-03": worker_user("MR"),
        "worker.Trend.p00-01": worker_user("Trend"),
        "worker.Trend.p02-03": worker_user("Trend"),
        "gateway": "gateway",
        "ingest": "ingest",
    }
    for role in plan:
        assert role.env[PASSWORD_ENV] == logins[role.env[USER_ENV]].password
        others = {lg.password for lg in logins.values() if lg.user != role.env[USER_ENV]}
        assert not others & set(role.env.values()), role.name
    assert "admin" not in users.values()  # the admin's password stays with `tradebot cluster`


def test_a_login_comes_from_the_environment_or_a_password_file(tmp_path: Path) -> None:
    """Both or neither: half a login is a ConfigError naming the variables; the password may
    be in a file the environment names; the password never shows in a repr."""
    assert login_from_env({}) is None
    login = login_from_env({USER_ENV: "oms.a", PASSWORD_ENV: "s3cret"})
    assert login is not None and login.user == "oms.a" and "s3cret" not in repr(login)
    secret = tmp_path / "pw"
    secret.write_text("from-a-file\n")
    from_file = login_from_env({USER_ENV: "oms.a", "TRADEBOT_NATS_PASSWORD_FILE": str(secret)})
    assert from_file is not None and from_file.password == "from-a-file"
    with pytest.raises(ConfigError, match=f"set both {USER_ENV} and {PASSWORD_ENV}"):
        login_from_env({USER_ENV: "oms.a"})


def test_the_local_servers_configuration_is_private() -> None:
    """The file holding the generated passwords: readable by this user only (0600, in a 0700
    directory)."""
    path = write_private("authorization {}\n")
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        path.unlink()
        path.parent.rmdir()


def test_nats_auth_prints_a_valid_block_with_no_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tradebot nats-auth`: every role's user with a password the server reads from its own
    environment; nats-server accepts the shipped configuration with it."""
    config = write_config(
        tmp_path, **{"cluster.accounts": ["a", "b"], "cluster.strategies": ["MR:a", "Trend:b"]}
    )
    assert main(["nats-auth", "--config", str(config)]) == 0
    block = capsys.readouterr().out
    for user in LAYOUT.users():
        assert f"password: ${password_variable(user)}" in block
    conf = tmp_path / "nats.conf"
    conf.write_text(SERVER_CONF.read_text() + block)
    env = {**os.environ, **{password_variable(u): "x" for u in LAYOUT.users()}}
    checked = subprocess.run(
        [server_binary(), "-c", str(conf), "-t"], capture_output=True, text=True, env=env
    )
    assert checked.returncode == 0, checked.stderr


def test_tls_settings_build_a_verifying_context(tmp_path: Path) -> None:
    """cluster.tls_ca_file gives a context that verifies the server; a certificate without its
    key, or a file that is not there, is a ConfigError; nothing set is plain TCP."""
    cfg = cluster_config(load_settings(write_config(tmp_path)))
    assert tls_context(cfg) is None
    import certifi

    context = tls_context(replace(cfg, tls_ca_file=certifi.where()))
    assert context is not None and context.check_hostname
    with pytest.raises(ConfigError, match="go together"):
        tls_context(replace(cfg, tls_cert_file=str(tmp_path / "c.pem")))
    with pytest.raises(ConfigError, match=r"cluster\.tls_"):
        tls_context(replace(cfg, tls_ca_file=str(tmp_path / "missing.pem")))
