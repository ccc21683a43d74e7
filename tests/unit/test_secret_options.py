"""A user's own secret options (``KEY_cmd``, ``KEY_secret``): refused where Airflow would ignore
them or a plain value would shadow them, a plain value for a secret the testbed generates
refused, a user's command replacing the testbed's on every node, and the configuration probe's
expectation that proves Airflow ran the command. No Docker."""

from __future__ import annotations

import re

import pytest

from testbed import airflow_config as AC
from testbed import secret_options
from testbed.core.errors import ScenarioError, TestbedError
from testbed.core.secrets import Secrets
from testbed.observe.health import CONFIG_SCRIPT
from testbed.scenario.load import from_data
from testbed.topology import Topology

SECRETS = Secrets.generate()
USER_CONN = "sh -c 'cat /run/testbed/sql_alchemy_conn'"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"core": {"parallelism_cmd": "echo 4"}},
            "config core.parallelism_cmd: Airflow runs a _cmd only for its sensitive options, "
            "and core.parallelism is not one",
        ),
        (
            {
                "sentry": {"sentry_dsn_secret": "dsn", "sentry_dsn": "http://x"},
                "secrets": {"backend": "b"},
            },
            "config sentry.sentry_dsn_secret and sentry.sentry_dsn: give one",
        ),
        (
            {"core": {"fernet_key": "a-key"}},
            "config core.fernet_key: the testbed generates this secret per run",
        ),
        ({"api_auth": {"jwt_secret": "s"}}, "give api_auth.jwt_secret_cmd"),
        (
            {"core": {"sql_alchemy_conn_cmd": "cat /x"}},
            "Airflow 3 reads this option as database.sql_alchemy_conn (and that name first); "
            "give database.sql_alchemy_conn_cmd",
        ),
        ({"webserver": {"secret_key": "k"}}, "give api.secret_key"),
        ({"sentry": {"sentry_dsn_secret": "dsn"}}, "none is configured; give secrets.backend"),
    ],
)
def test_a_secret_option_airflow_would_not_read_is_refused(config, message):
    with pytest.raises(TestbedError, match=re.escape(message)):
        Topology(config=config)


def test_an_option_whose_own_name_ends_in_secret_is_a_plain_option():
    assert secret_options.split("api_auth", "jwt_secret") == ("jwt_secret", None)
    assert secret_options.split("api_auth", "jwt_secret_secret") == ("jwt_secret", "_secret")
    assert secret_options.split("fab", "client_secret") == ("client_secret", None)
    Topology(config={"logging": {"min_length_masked_secret": "5"}})  # not refused


def test_a_scenario_with_one_is_refused_before_boot_naming_the_file():
    data = {
        "name": "d",
        "topology": {"config": {"scheduler.parallelism_cmd": "echo 4"}},
        "steps": [{"expect": {"name": "ok", "check": "healthy"}}],
    }
    with pytest.raises(ScenarioError, match=r"drill\.yaml.*scheduler\.parallelism_cmd"):
        from_data(data, "drill.yaml")


def test_a_users_command_replaces_the_testbeds_own_on_every_node():
    t = Topology(config={"database": {"sql_alchemy_conn_cmd": USER_CONN}})
    for node in ("scheduler", "worker-1", "api-server"):
        env = AC.environment(t, node, SECRETS)
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD"] == USER_CONN
        assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in env
        # the other secrets stay the testbed's
        assert env["AIRFLOW__CORE__FERNET_KEY_CMD"] == "cat /run/testbed/fernet_key"


def test_a_users_jwt_secret_command_takes_the_plain_secret_out_of_the_environment():
    plain = AC.environment(Topology(), "scheduler", SECRETS)
    assert plain["AIRFLOW__API_AUTH__JWT_SECRET"] == SECRETS.jwt_secret
    t = Topology(config={"api_auth": {"jwt_secret_cmd": "cat /run/jwt"}})
    env = AC.environment(t, "scheduler", SECRETS)
    assert "AIRFLOW__API_AUTH__JWT_SECRET" not in env
    assert SECRETS.jwt_secret not in "\n".join(env.values())
    assert env["AIRFLOW__API_AUTH__JWT_SECRET_CMD"] == "cat /run/jwt"


def test_the_probe_is_expected_to_find_the_option_read_from_the_command():
    flat = Topology(
        config={"database": {"sql_alchemy_conn_cmd": USER_CONN}, "core": {"parallelism": "8"}}
    ).flat_effective()
    assert secret_options.resolved_expected(flat) == {
        "database.sql_alchemy_conn (from _cmd)": "the command's output"
    }
    # the probe's script writes that very key and value (it runs inside Airflow's image)
    assert "out[dotted[:-4] + ' (from _cmd)'] = \"the command's output\" if same" in CONFIG_SCRIPT
