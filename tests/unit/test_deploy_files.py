"""Invariants of the deployment files (Docker cannot run on the CI machines, so they are read).

docker-compose.yml: the image is built once and reused, every other image is pinned to a
version, the secret key has no default, and the long-running services have healthchecks.
Dockerfile: multi-stage, installs the wheel, runs as a non-root user, keeps its files in /data,
and has a HEALTHCHECK on /healthz. (tests/integration/test_wheel.py runs the image's commands.)
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SERVICES: dict = COMPOSE["services"]
MAILDESK_SERVICES = {name: s for name, s in SERVICES.items() if str(s.get("image", "")).startswith("maildesk")}


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_compose_builds_the_image_once_and_the_other_maildesk_services_reuse_it() -> None:
    builders = [name for name, s in SERVICES.items() if "build" in s]
    assert len(builders) == 1, builders
    assert SERVICES[builders[0]]["image"] == "maildesk:local"
    assert len(MAILDESK_SERVICES) >= 3
    for name, service in MAILDESK_SERVICES.items():
        assert service["image"] == "maildesk:local", name


def test_compose_pins_every_pulled_image_to_a_version() -> None:
    for name, service in SERVICES.items():
        if name in MAILDESK_SERVICES:
            continue
        image = service["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and re.match(r"v?\d+\.\d+", tag), f"{name}: {image} is not pinned to a version"


def test_compose_requires_a_secret_key_and_ships_no_placeholder() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert not re.search(r"change-?me|placeholder", text, re.IGNORECASE)
    for name, service in MAILDESK_SERVICES.items():
        secret = service["environment"]["MAILDESK_SECRET_KEY"]
        assert re.fullmatch(r"\$\{MAILDESK_SECRET_KEY:\?[^}]+\}", secret), (name, secret)


def test_compose_daemons_have_healthchecks_and_wait_for_the_migration() -> None:
    assert "healthcheck" in SERVICES["postgres"]
    daemons = {n: s for n, s in MAILDESK_SERVICES.items() if s.get("command") == ["maildesk", "serve"]}
    assert len(daemons) == 2
    for name, service in daemons.items():
        assert "/healthz" in " ".join(service["healthcheck"]["test"]), name
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["environment"]["MAILDESK_DATA_DIR"] == "/data"
        assert "maildesk-data:/data" in service["volumes"]


def test_dockerfile_is_multi_stage_and_installs_the_wheel() -> None:
    steps = _instructions()
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) == 2 and " AS build" in froms[0]
    for image in froms:
        assert re.match(r"python:\d+\.\d+\.\d+-slim", image), image
    runs = [args for word, args in steps if word == "RUN"]
    assert any("pip wheel" in r for r in runs)
    runtime_steps = steps[[i for i, (w, _) in enumerate(steps) if w == "FROM"][1]:]
    installs = [args for word, args in runtime_steps if word == "RUN" and "pip install" in args]
    assert installs and "-e" not in installs[0].split() and "maildesk" in installs[0]
    assert ("COPY", "--from=build /wheels /wheels") in runtime_steps
    # The runtime stage does not carry the source tree: nothing but the wheels is copied in.
    assert [args for word, args in runtime_steps if word == "COPY"] == ["--from=build /wheels /wheels"]


def test_dockerfile_runs_as_non_root_with_everything_under_data() -> None:
    steps = _instructions()
    (user,) = [args for word, args in steps if word == "USER"]
    assert user not in ("root", "0") and not user.startswith("0:")
    env = " ".join(args for word, args in steps if word == "ENV")
    assert "MAILDESK_DATA_DIR=/data" in env and "MAILDESK_DATABASE_URL=sqlite:////data/maildesk.db" in env
    assert "MAILDESK_SMTP_LISTEN=0.0.0.0:2525" in env and "MAILDESK_HTTP_LISTEN=0.0.0.0:8000" in env
    assert ("VOLUME", '["/data"]') in steps
    assert any(word == "RUN" and "chown maildesk:maildesk /data" in args for word, args in steps)
    (health,) = [args for word, args in steps if word == "HEALTHCHECK"]
    assert "CMD" in health and "/healthz" in health
    assert ("EXPOSE", "2525 8000") in steps


def test_deploy_doc_quotes_the_contrib_samples_exactly() -> None:
    doc = (ROOT / "docs" / "deploy.md").read_text()
    samples = sorted(p for p in (ROOT / "contrib").rglob("*") if p.is_file())
    assert {p.relative_to(ROOT).as_posix() for p in samples} >= {
        "contrib/maildesk.service", "contrib/postfix/main.cf", "contrib/postfix/master.cf",
        "contrib/postfix/transport", "contrib/postfix/maildesk_recipients", "contrib/exim/maildesk.conf",
        "contrib/nginx/maildesk.conf"}
    for path in samples:
        assert path.read_text().rstrip("\n") + "\n```" in doc, f"docs/deploy.md does not quote {path} exactly"


def test_systemd_unit_runs_as_a_dedicated_user_restarts_and_is_hardened() -> None:
    settings: dict[str, list[str]] = {}
    for line in (ROOT / "contrib" / "maildesk.service").read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    assert settings["User"] == ["maildesk"] and settings["Group"] == ["maildesk"]
    assert settings["Restart"] == ["on-failure"]
    assert int(settings["LimitNOFILE"][0]) >= 4096
    assert settings["UMask"] == ["0077"]
    assert settings["ExecStart"][0].endswith("maildesk serve")
    assert settings["ExecStartPre"][0].endswith("maildesk migrate")
    for key, value in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                       ("PrivateTmp", "yes"), ("RestrictSUIDSGID", "yes")]:
        assert settings[key] == [value], key
    assert "MAILDESK_DATA_DIR=/var/lib/maildesk" in settings["Environment"]
    assert settings["StateDirectory"] == ["maildesk"]


def test_the_wheel_lists_every_maildesk_package() -> None:
    """setuptools is given an explicit package list: a new package left out of it would be
    missing from the wheel (and from the image) while the editable checkout still works."""
    listed = set(re.findall(r'"(maildesk(?:\.[a-z_]+)*)"', ROOT.joinpath("pyproject.toml").read_text()))
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in ROOT.joinpath("maildesk").rglob("__init__.py")}
    assert found - listed == set()
