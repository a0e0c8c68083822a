"""The kiosk's key, state folder and config on a device, owned so its service can read them.

Shared by ``enrol`` and ``rekey``: the device key is made on the device by the installed
``safecode kiosk keygen``; the state folder and key belong to the service user (0700 /
0600); the config is root-owned 0640 in the service user's group.
"""

from __future__ import annotations

from .errors import StepFailed
from .layout import DeviceLayout
from .remote import Device

CONFIG_GROUP = (
    'set -e; d=$(dirname "$1"); c=; '
    'if [ "$(stat -c %G "$1")" != "$2" ]; then chgrp -- "$2" "$1"; c=1; fi; '
    'if [ "$(stat -c %a "$d")" = 700 ]; then chmod 0755 "$d"; c=1; fi; '
    '[ -z "$c" ] || echo changed'
)
"""$1 (the config) into group $2; a config folder left 0700 by older tools made 0755."""


async def user_exists(device: Device, user: str, step: str) -> bool:
    """True if ``user`` is set and exists on the device."""
    if not user:
        return False
    found = await device.run(["getent", "passwd", user], step, check=False)
    return found.exit_status == 0


async def keygen(
    device: Device, layout: DeviceLayout, key_file: str, step: str
) -> tuple[str, bool]:
    """The did:key of ``key_file`` on the device (made there if missing); (did, created)."""
    done = await device.run([layout.safecode, "kiosk", "keygen", "--key-file", key_file], step)
    did = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if not did.startswith("did:key:"):
        raise StepFailed(step, f"the device printed no did:key: {done.stdout[-200:]!r}")
    return did, "created" in done.stderr


async def hand_over_state(device: Device, layout: DeviceLayout, user: str, step: str) -> bool:
    """The state folder and key to ``user`` (0700); True if anything changed."""
    if not await user_exists(device, user, step):
        return False
    owner = await device.run(["stat", "-c", "%U", layout.state, layout.device_key], step)
    if set(owner.stdout.split()) == {user}:
        return False
    await device.run(["chown", "-R", f"{user}:{user}", layout.state], step)
    await device.run(["chmod", "0700", layout.state], step)
    return True


async def write_config(
    device: Device, layout: DeviceLayout, config: bytes, user: str, step: str
) -> bool:
    """Write the config 0640, group ``user`` (if that user exists); True if it changed."""
    changed = await device.write_file(layout.config, config, 0o640, step)
    if await user_exists(device, user, step):
        done = await device.run(["sh", "-c", CONFIG_GROUP, "sh", layout.config, user], step)
        changed = changed or "changed" in done.stdout
    return changed


async def ensure_account(device: Device, layout: DeviceLayout, user: str) -> list[str]:
    """The service's system user, in the camera and GPIO groups (on a real root only).

    What changed, in words; nothing when ``user`` is '' or on a staging prefix without it.
    """
    changed: list[str] = []
    if not user:
        return changed
    if not await user_exists(device, user, "account"):
        if layout.prefix != "/":
            return changed  # a staging prefix has no user database of its own
        await device.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                layout.state,
                "--shell",
                "/usr/sbin/nologin",
                user,
            ],
            "account",
        )
        changed.append(f"user {user}")
    for group in ("video", "gpio"):
        script = (
            'getent group "$2" >/dev/null || exit 0; '
            'id -nG "$1" | tr " " "\\n" | grep -qx "$2" && exit 0; '
            'usermod -aG "$2" "$1" && echo added'
        )
        done = await device.run(["sh", "-c", script, "sh", user, group], "account")
        if "added" in done.stdout:
            changed.append(f"{user} in group {group}")
    return changed
