"""A broker, an aggregator with its read API, an operator token, sshd and a kiosk wheel.

Everything real: Mosquitto (LocalBroker), ``safecode aggregator run`` as a child
process, Debian's sshd on a loopback port, the wheel built from this checkout. Each
simulated device is a root prefix on this machine reached through that sshd; the
fake systemctl starts the installed unit's ExecStart, standing in for systemd.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import tomli_w
from PIL import Image

from aggregator.broker_acls import ADMIN_USER, AGGREGATOR_USER, dynsec_document
from provisioning.software import build_wheel
from simulator.broker import LocalBroker, free_port
from simulator.site import init_simulated_site
from support.config_file import read_toml
from tests.integration.harness import Child
from tests.integration.sshd import SshServer

FAKE_SYSTEMCTL = Path(__file__).with_name("fake_systemctl.py")
ADMIN_PASSWORD = "admin-password-for-provisioning-tests"
AGGREGATOR_PASSWORD = "aggregator-password-for-provisioning-tests"


class ProvisionRig:
    """Aggregator + broker + sshd under ``root``; ``close`` ends them (and started kiosks)."""

    def __init__(self, root: Path, wheel: Path) -> None:
        self.root = root
        self.wheel = wheel
        # Mosquitto with the dynamic-security plugin: each kiosk gets its own account.
        (root / "broker").mkdir(parents=True)
        dynsec = root / "broker" / "dynamic-security.json"
        dynsec.write_text(json.dumps(dynsec_document(ADMIN_PASSWORD, AGGREGATOR_PASSWORD)))
        os.chmod(dynsec, 0o600)
        self.broker = LocalBroker(workdir=root / "broker", dynsec_file=dynsec).start()
        self.http_port = free_port()
        self.site = init_simulated_site(
            root / "site",
            kiosks=0,
            visitors=1,
            mqtt_port=self.broker.port,
            http_port=self.http_port,
        )
        config = read_toml(self.site.aggregator_config)
        config["mqtt"].update(username=AGGREGATOR_USER, password=AGGREGATOR_PASSWORD)
        config["broker_admin"] = {"username": ADMIN_USER, "password": ADMIN_PASSWORD}
        self.site.aggregator_config.write_text(tomli_w.dumps(config))
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.aggregator = Child(
            "aggregator",
            ["aggregator", "run", "--config", str(self.site.aggregator_config)],
            root / "processes.log",
        )
        self.aggregator.wait_for(r"listening on", 30)
        made = subprocess.run(
            [
                sys.executable,
                "-m",
                "safecode",
                "aggregator",
                "token",
                "create",
                "--config",
                str(self.site.aggregator_config),
                "--name",
                "technician",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        self.token = made.stdout.strip()
        self.sshd = SshServer(root / "sshd")
        self.known_hosts = root / "known_hosts"
        self.frame = root / "blank.png"
        Image.new("L", (64, 48), 255).save(self.frame)
        self.prefixes: list[Path] = []

    def env(self) -> dict[str, str]:
        return {**os.environ, "SAFECODE_OPERATOR_TOKEN": self.token}

    def device(self, name: str) -> Path:
        prefix = self.root / "devices" / name
        prefix.mkdir(parents=True, exist_ok=True)
        self.prefixes.append(prefix)
        return prefix

    def systemctl(self, prefix: Path) -> str:
        return f"{sys.executable} {FAKE_SYSTEMCTL} --root {prefix}"

    def common_args(self) -> list[str]:
        return [
            "--aggregator",
            self.url,
            "--identity",
            str(self.sshd.client_key),
            "--known-hosts",
            str(self.known_hosts),
        ]

    def enrol_args(self, prefix: Path) -> list[str]:
        """Options of an enrolment onto the simulated device at ``prefix``."""
        return self.common_args() + [
            "--port",
            str(self.sshd.port),
            "--prefix",
            str(prefix),
            "--systemctl",
            self.systemctl(prefix),
            "--wheel",
            str(self.wheel),
            "--device-python",
            sys._base_executable,
            "--dev-site-packages",
            sysconfig.get_paths()["purelib"],
            "--camera",
            "replay",
            "--camera-path",
            str(self.frame),
            "--mock-pins",
            # No system user on the test machine: root runs the simulated kiosks.
            "--service-user",
            "",
            "--heartbeat-timeout",
            "30",
        ]

    def safecode(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 240
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "safecode", *args],
            capture_output=True,
            text=True,
            env=env if env is not None else self.env(),
            timeout=timeout,
        )

    def stop_kiosk(self, prefix: Path) -> None:
        subprocess.run(
            [
                sys.executable,
                str(FAKE_SYSTEMCTL),
                "--root",
                str(prefix),
                "stop",
                "safecode-kiosk.service",
            ],
            timeout=60,
            check=False,
        )

    def close(self) -> None:
        for prefix in self.prefixes:
            self.stop_kiosk(prefix)
        self.sshd.stop()
        if self.aggregator.alive():
            self.aggregator.stop(timeout=10)
        self.broker.stop()


def wheel_for_tests(folder: Path) -> Path:
    """This checkout's wheel, built offline (the ``kiosk_wheel`` fixture: once per session)."""
    return build_wheel(folder)


def rig_fixture(tmp_path_factory: object, name: str, wheel: Path) -> Iterator[ProvisionRig]:
    """A module-wide rig around the session's ``wheel`` (use from a pytest fixture)."""
    root = tmp_path_factory.mktemp(name)  # type: ignore[attr-defined]
    running = ProvisionRig(root, wheel)
    try:
        yield running
    finally:
        running.close()


def broker_accepts(rig: ProvisionRig, username: str, password: str) -> bool:
    """Whether the broker lets ``username`` log in, as its own client id (accounts are pinned).

    The kiosk's session is resumed and left as it was (nothing subscribed or
    acknowledged); a running kiosk is bumped off once and reconnects.
    """
    import threading

    import paho.mqtt.client as mqtt

    from transport.paho_client import make_client
    from transport.settings import MqttSettings

    settings = MqttSettings(
        host=rig.broker.host, port=rig.broker.port, username=username, password=password
    )
    client = make_client(settings, username, persistent=True, manual_ack=True)
    answered = threading.Event()
    codes: list[object] = []

    def on_connect(c: object, u: object, flags: object, reason: mqtt.ReasonCode, p: object) -> None:
        codes.append(reason)
        answered.set()

    client.on_connect = on_connect
    client.connect(rig.broker.host, rig.broker.port)
    client.loop_start()
    try:
        answered.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
    return bool(codes) and not codes[0].is_failure
