"""Regional Mosquitto brokers bridged to the central broker the aggregator uses.

Past one broker, kiosks are homed on regional brokers. Each regional broker holds its
kiosks' accounts and ACLs (the dynamic-security plugin, as ``broker_init`` lays out)
and runs one Mosquitto bridge to the central broker:

- ``out`` (regional -> central), QoS 1: every kiosk's ``checkin`` and ``status`` (the
  retained status and last will keep their retain flag: ``try_private`` tells the
  central broker the client is a bridge);
- ``in`` (central -> regional), QoS 1: every kiosk's ``receipt`` and ``config`` (the
  retained config is delivered again whenever the bridge subscribes).

``cleansession false`` on both sides: while the central broker or the link is down the
regional broker queues check-ins for the bridge; while a regional broker is down the
central broker queues receipts for it. A regional broker that dies takes only its own
kiosks off the air; they keep their outboxes and drain when it returns.

On the central broker the bridge logs in as ``safecode_bridge_<region>``, whose role
(of the same name, one per region, so remaking one region's account leaves the others
connected) may only publish check-ins and status and only read receipts and config.

Measured on Mosquitto 2.0.11 (tests/integration/test_region_bridge.py): the bridge needs
no account on its own broker (it is the broker), retained config and status and the
last will cross with their retain flag, and the kiosks' per-topic ACLs stay as they are.
The bridge's own connection keeps Nagle on (2.0.11 has no switch for it): about 40 ms
more per round trip at low rates (``safecode bench bridge``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from protocol import topics

from .broker_acls import Acl, new_password
from .broker_init import BrokerInitError, ListenerTls, check_host, init_broker_dir

BRIDGE_USER_PREFIX = "safecode_bridge_"
REGION = re.compile(r"[a-z][a-z0-9-]{0,30}")
CONF_DIR = "conf.d"
#: Topics a bridge carries: (leaf, direction seen from the regional broker).
BRIDGED = (
    (topics.CHECKIN, "out"),
    (topics.STATUS, "out"),
    (topics.RECEIPT, "in"),
    (topics.CONFIG, "in"),
)


def check_region(name: str) -> str:
    """A region name: 1-31 lowercase letters, digits or hyphens, starting with a letter."""
    if not isinstance(name, str) or not REGION.fullmatch(name):
        raise BrokerInitError(
            f"region {str(name)[:40]!r} is not 1-31 lowercase letters, digits or hyphens"
        )
    return name


def bridge_user(region: str) -> str:
    """The bridge's username on the central broker (has an underscore: no kiosk id)."""
    return BRIDGE_USER_PREFIX + check_region(region).replace("-", "_")


def _acl(acltype: str, topic: str) -> Acl:
    return {"acltype": acltype, "topic": topic, "allow": True}


def bridge_acls() -> list[Acl]:
    """Check-ins and status in to the central broker; receipts and config out to regions."""
    acls: list[Acl] = []
    for leaf, direction in BRIDGED:
        every = f"{topics.PREFIX}/+/{leaf}"
        if direction == "out":
            acls.append(_acl("publishClientSend", every))
        else:
            acls += [
                _acl("subscribePattern", every),
                _acl("publishClientReceive", every),
                _acl("unsubscribePattern", every),
            ]
    return acls


def central_account_commands(region: str, password: str) -> list[dict[str, Any]]:
    """dynamic-security commands giving ``region``'s bridge its account on the central broker.

    The region's role and account are rebuilt with the current ACLs and the new password
    (the plugin cannot patch a role assignment, see ``aggregator.dynsec``); other
    regions' bridges are not touched.
    """
    user = bridge_user(region)
    return [
        {"command": "deleteClient", "username": user},
        {"command": "deleteRole", "rolename": user},
        {"command": "createRole", "rolename": user, "acls": bridge_acls()},
        {
            "command": "createClient",
            "username": user,
            "password": password,
            "clientid": user,
            "textname": f"safecode bridge of region {region}",
            "roles": [{"rolename": user}],
        },
    ]


def _no_control(value: object, what: str) -> str:
    text = str(value)
    if not text or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in text):
        raise BrokerInitError(f"{what} {text[:60]!r} cannot go into mosquitto.conf")
    return text


def bridge_lines(
    region: str,
    *,
    central_host: str,
    central_port: int,
    password: str,
    central_cafile: Path | None = None,
) -> list[str]:
    """The ``connection`` section of a regional broker's mosquitto.conf."""
    user = bridge_user(region)
    lines = [
        f"connection safecode-{check_region(region)}",
        f"address {check_host(central_host, 'central broker host')}:{int(central_port)}",
        f"remote_clientid {user}",
        f"local_clientid local.{user}",
        f"remote_username {user}",
        f"remote_password {_no_control(password, 'bridge password')}",
        "bridge_protocol_version mqttv311",
        "try_private true",
        # Persistent sessions both ways: nothing queued is dropped when the link drops.
        "cleansession false",
        "local_cleansession false",
        # The bridge's state ($SYS/broker/connection/...) only on the regional broker.
        "notifications true",
        "notifications_local_only true",
        "keepalive_interval 30",
        "restart_timeout 1 30",
        "start_type automatic",
    ]
    if central_cafile is not None:
        lines += [
            f"bridge_cafile {_no_control(central_cafile, 'CA file')}",
            "bridge_insecure false",
        ]
    for leaf, direction in BRIDGED:
        lines.append(f"topic {topics.PREFIX}/+/{leaf} {direction} 1")
    return lines


def init_region_dir(
    folder: Path,
    region: str,
    *,
    port: int,
    central_host: str,
    central_port: int,
    bind: str = "0.0.0.0",
    tls: ListenerTls | None = None,
    plugin: Path | None = None,
    public_host: str = "127.0.0.1",
    central_cafile: Path | None = None,
    bridge_password: str | None = None,
) -> tuple[list[Path], str]:
    """Lay out a regional broker in ``folder``: ``broker_init``'s files plus its bridge.

    Returns the files written and the bridge's password (to give the central broker).
    ``conf.d/bridge.conf`` (mode 600, it holds that password) is pulled in by an
    ``include_dir`` line at the end of ``mosquitto.conf``.
    """
    check_region(region)
    check_host(central_host, "central broker host")
    if not 0 < central_port < 65536:
        raise BrokerInitError(f"central port {central_port} is not a TCP port number")
    password = bridge_password or new_password()
    written = init_broker_dir(
        folder, port=port, bind=bind, tls=tls, plugin=plugin, public_host=public_host
    )
    conf_dir = Path(folder) / CONF_DIR
    bridge_conf = conf_dir / "bridge.conf"
    text = "\n".join(
        [
            f"# safecode region {region}: bridge to the central broker (made by broker-region).",
            "# Small packets at once to kiosks (Nagle would hold a receipt ~40 ms); Mosquitto",
            "# 2.0 has no such switch for the bridge's own connection.",
            "set_tcp_nodelay true",
            *bridge_lines(
                region,
                central_host=central_host,
                central_port=central_port,
                password=password,
                central_cafile=central_cafile,
            ),
            "",
        ]
    )
    try:
        conf_dir.mkdir(mode=0o700, exist_ok=True)
        with bridge_conf.open("x", encoding="utf-8") as handle:
            bridge_conf.chmod(0o600)
            handle.write(text)
        with (Path(folder) / "mosquitto.conf").open("a", encoding="utf-8") as handle:
            handle.write(
                f"\n# The bridge to the central broker.\ninclude_dir {conf_dir.resolve()}\n"
            )
    except OSError as exc:
        raise BrokerInitError(f"cannot write the bridge into {folder}: {exc}") from exc
    return [*written, bridge_conf], password
