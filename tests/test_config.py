from pathlib import Path

import pytest

from bot.config import Config, ConfigError, load_config

REPO = Path(__file__).resolve().parent.parent


def test_shipped_config_matches_defaults() -> None:
    # config.yaml documents the defaults: loading it must give exactly the built-in defaults.
    assert load_config(REPO / "config.yaml", env={}) == Config()


def test_env_overrides_file_and_set_overrides_env(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("analysis:\n  sample_interval_s: 2\n")
    env = {"CLASSPULSE_ANALYSIS__SAMPLE_INTERVAL_S": "3", "CLASSPULSE_ANALYSIS__EMOTIONS": "off"}
    assert load_config(f, env={}).analysis.sample_interval_s == 2
    cfg = load_config(f, env=env)
    assert cfg.analysis.sample_interval_s == 3 and cfg.analysis.emotions is False
    cfg = load_config(f, env=env, overrides=["analysis.sample_interval_s=0.5"])
    assert cfg.analysis.sample_interval_s == 0.5


@pytest.mark.parametrize(
    ("env", "overrides", "needle"),
    [
        ({"CLASSPULSE_ANALYSIS__SAMPLE_INTERVAL_S": "-1"}, [],
         "analysis.sample_interval_s = -1 (from env CLASSPULSE_ANALYSIS__SAMPLE_INTERVAL_S)"),
        ({}, ["analysis.bogus=1"], "analysis.bogus"),
        ({}, ["analysis.detector=magic"], "analysis.detector = 'magic'"),
        ({}, ["reports.paper=A5"], "reports.paper"),
        ({}, ["nokey"], "must look like section.key=value"),
    ],
)
def test_bad_values_name_the_key_and_source(env: dict[str, str], overrides: list[str], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(REPO / "config.yaml", env=env, overrides=overrides)
    assert needle in str(err.value)


def test_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("analysis: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad, env={})
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml", env={})


def test_delivery_secrets_are_never_printed() -> None:
    config = load_config(None, env={"CLASSPULSE_DELIVERY__SMTP_PASSWORD": "hunter2-smtp",
                                    "CLASSPULSE_DELIVERY__WEBHOOK_SECRET": "12345"})
    shown = repr(config) + str(config.delivery) + config.model_dump_json()
    assert "hunter2-smtp" not in shown and "12345" not in shown
    assert config.delivery.smtp_password.get_secret_value() == "hunter2-smtp"
    assert config.delivery.webhook_secret.get_secret_value() == "12345"  # a number-looking secret stays text
