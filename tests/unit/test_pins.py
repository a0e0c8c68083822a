"""Finding and checking the kiosk's pin map (kiosk.lights_pins), fuzzed with hypothesis."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk import lights_pins as lights
from kiosk.lights import PINS_ENV, PinMap, PinMapError, find_pins_file, load_pins

GOOD = "[leds]\ngreen = 5\nred = 6\namber = 13\n\n[buzzer]\npin = 19\n"
GOOD_PINS = PinMap(green=5, red=6, amber=13, buzzer=19)
REPO_PINS = PinMap(green=17, red=27, amber=22, buzzer=18)


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """The system and repository places moved into tmp_path (both absent), no $SAFECODE_PINS."""
    system = tmp_path / "etc" / "safecode" / "pins.toml"
    repo = tmp_path / "repo" / "hardware" / "pins.toml"
    monkeypatch.setattr(lights, "SYSTEM_PINS", system)
    monkeypatch.setattr(lights, "DEFAULT_PINS", repo)
    monkeypatch.delenv(PINS_ENV, raising=False)
    return {"system": system, "repo": repo}


def write(path: Path, text: str = GOOD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- where the file comes from ------------------------------------------------------------


def test_the_real_repository_file_is_the_development_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lights, "SYSTEM_PINS", tmp_path / "absent.toml")
    monkeypatch.delenv(PINS_ENV, raising=False)
    assert Path(__file__).resolve().parents[2] / "hardware" / "pins.toml" == lights.DEFAULT_PINS
    assert find_pins_file() == lights.DEFAULT_PINS
    assert load_pins() == REPO_PINS


def test_a_given_path_comes_first(
    places: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = write(tmp_path / "given.toml")
    write(places["system"], GOOD.replace("= 5", "= 7"))
    write(places["repo"], GOOD.replace("= 5", "= 8"))
    monkeypatch.setenv(PINS_ENV, str(write(tmp_path / "env.toml", GOOD.replace("= 5", "= 9"))))
    assert find_pins_file(given) == given
    assert load_pins(given) == GOOD_PINS
    assert load_pins(str(given)) == GOOD_PINS


def test_the_environment_variable_comes_before_etc(
    places: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = write(tmp_path / "env.toml")
    write(places["system"], GOOD.replace("= 5", "= 7"))
    monkeypatch.setenv(PINS_ENV, str(env))
    assert find_pins_file() == env
    assert load_pins() == GOOD_PINS


def test_etc_comes_before_the_repository(places: dict[str, Path]) -> None:
    write(places["system"])
    write(places["repo"], GOOD.replace("= 5", "= 8"))
    assert find_pins_file() == places["system"]
    assert load_pins() == GOOD_PINS


def test_the_repository_file_is_the_last_resort(places: dict[str, Path]) -> None:
    write(places["repo"])
    assert find_pins_file() == places["repo"]
    assert load_pins() == GOOD_PINS


def test_an_empty_environment_variable_is_unset(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PINS_ENV, "")
    write(places["system"])
    assert find_pins_file() == places["system"]


def test_no_file_anywhere_names_every_place(places: dict[str, Path]) -> None:
    with pytest.raises(PinMapError) as err:
        load_pins()
    message = str(err.value)
    assert str(places["system"]) in message and str(places["repo"]) in message
    assert PINS_ENV in message and "pins_file" in message
    assert isinstance(err.value, ValueError)


def test_a_missing_given_file_is_an_error_not_a_fallback(
    places: dict[str, Path], tmp_path: Path
) -> None:
    write(places["system"])
    missing = tmp_path / "typo.toml"
    with pytest.raises(PinMapError, match="no pin map file found") as err:
        load_pins(missing)
    assert str(missing) in str(err.value)


def test_a_missing_environment_file_is_an_error_not_a_fallback(
    places: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(places["system"])
    missing = tmp_path / "nowhere.toml"
    monkeypatch.setenv(PINS_ENV, str(missing))
    with pytest.raises(PinMapError) as err:
        load_pins()
    assert str(missing) in str(err.value) and PINS_ENV in str(err.value)


def test_a_directory_is_not_a_pin_map(places: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(PinMapError, match="no pin map file found"):
        load_pins(tmp_path)


# -- what the file must hold --------------------------------------------------------------


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "pins.toml", "[leds\ngreen = 5\n")
    with pytest.raises(PinMapError, match="not valid TOML") as err:
        load_pins(path)
    assert str(path) in str(err.value)


def test_non_utf8_is_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "pins.toml"
    path.write_bytes(b"[leds]\ngreen = 5 # \xff\n")
    with pytest.raises(PinMapError, match="not valid TOML"):
        load_pins(path)


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("[leds]\ngreen = 5\nred = 6\namber = 13\n", "[buzzer]"),
        ("[buzzer]\npin = 19\n", "[leds]"),
        ("leds = 3\n[buzzer]\npin = 19\n", "[leds]"),
        ("[leds]\ngreen = 5\nred = 6\n[buzzer]\npin = 19\n", "leds.amber"),
        ("[leds]\ngreen = 5\nred = 6\namber = 13\n[buzzer]\n", "buzzer.pin"),
        ("[leds]\ngreen = 5\nred = 6\namber = 13\n[buzzer]\nkind = 'tonal'\n", "buzzer.pin"),
    ],
)
def test_missing_keys_are_named(tmp_path: Path, text: str, missing: str) -> None:
    path = write(tmp_path / "pins.toml", text)
    with pytest.raises(PinMapError, match="missing") as err:
        load_pins(path)
    assert missing in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize(
    "value", ["-1", "28", "40", "'17'", "17.0", "true", "[17]", "{ pin = 17 }"]
)
def test_a_pin_must_be_a_bcm_gpio_number(tmp_path: Path, value: str) -> None:
    path = write(tmp_path / "pins.toml", GOOD.replace("green = 5", f"green = {value}"))
    with pytest.raises(PinMapError, match=r"leds\.green") as err:
        load_pins(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("value", [0, 27])
def test_the_range_ends_are_allowed(tmp_path: Path, value: int) -> None:
    path = write(tmp_path / "pins.toml", GOOD.replace("pin = 19", f"pin = {value}"))
    assert load_pins(path).buzzer == value


def test_pins_must_be_distinct(tmp_path: Path) -> None:
    path = write(tmp_path / "pins.toml", GOOD.replace("pin = 19", "pin = 6"))
    with pytest.raises(PinMapError, match="four different") as err:
        load_pins(path)
    assert str(path) in str(err.value)
    assert "GPIO 6 is leds.red and buzzer.pin" in str(err.value)


def test_every_clash_is_named(tmp_path: Path) -> None:
    text = "[leds]\ngreen = 5\nred = 5\namber = 13\n[buzzer]\npin = 13\n"
    with pytest.raises(PinMapError) as err:
        load_pins(write(tmp_path / "pins.toml", text))
    message = str(err.value)
    assert "GPIO 5 is leds.green and leds.red" in message
    assert "GPIO 13 is leds.amber and buzzer.pin" in message


def test_the_buzzer_kind_defaults_to_active(tmp_path: Path) -> None:
    assert load_pins(write(tmp_path / "pins.toml")).buzzer_kind == "active"


@pytest.mark.parametrize("kind", ["active", "tonal"])
def test_the_buzzer_kind_is_read(tmp_path: Path, kind: str) -> None:
    pins = load_pins(write(tmp_path / "pins.toml", GOOD + f"kind = '{kind}'\n"))
    assert pins == PinMap(green=5, red=6, amber=13, buzzer=19, buzzer_kind=kind)


@pytest.mark.parametrize("kind", ["'passive'", "'Tonal'", "''", "1", "true", "['tonal']"])
def test_an_unknown_buzzer_kind_is_refused(tmp_path: Path, kind: str) -> None:
    path = write(tmp_path / "pins.toml", GOOD + f"kind = {kind}\n")
    with pytest.raises(PinMapError, match=r"buzzer\.kind must be one of 'active', 'tonal'") as err:
        load_pins(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (GOOD.replace("amber = 13", "ambre = 13"), "leds.ambre"),
        (GOOD + "pwm = true\n", "buzzer.pwm"),
        (GOOD.replace("[leds]", "[leds]\nblue = 4"), "leds.blue"),
    ],
)
def test_unknown_keys_in_the_pin_tables_are_named(tmp_path: Path, text: str, named: str) -> None:
    path = write(tmp_path / "pins.toml", text)
    with pytest.raises(PinMapError, match="unknown key") as err:
        load_pins(path)
    assert named in str(err.value) and str(path) in str(err.value)


def test_an_unreadable_file_is_a_pin_map_error(tmp_path: Path) -> None:
    path = write(tmp_path / "pins.toml")
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as root: permissions do not stop reads")
        with pytest.raises(PinMapError, match="cannot read"):
            load_pins(path)
    finally:
        path.chmod(0o600)


def test_the_repository_file_names_its_buzzer_kind() -> None:
    data = tomllib.loads(lights.DEFAULT_PINS.read_text(encoding="utf-8"))
    assert data["buzzer"]["kind"] in lights.BUZZER_KINDS


def test_extra_keys_and_comments_are_allowed(tmp_path: Path) -> None:
    text = "# wiring notes\n" + GOOD + "\n[notes]\nboard = 'Pi 4'\n"
    assert load_pins(write(tmp_path / "pins.toml", text)) == GOOD_PINS


# -- fuzzing ------------------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

toml_scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(max_size=8),
    st.sampled_from(["active", "tonal"]),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
gpio_like = st.one_of(st.integers(min_value=-2, max_value=30), toml_values)
pin_tables = st.fixed_dictionaries(
    {},
    optional={
        "leds": st.one_of(
            toml_values,
            st.fixed_dictionaries(
                {},
                optional={
                    "green": gpio_like,
                    "red": gpio_like,
                    "amber": gpio_like,
                    "blue": gpio_like,
                },
            ),
        ),
        "buzzer": st.one_of(
            toml_values,
            st.fixed_dictionaries(
                {}, optional={"pin": gpio_like, "kind": st.one_of(toml_values, st.just("tonal"))}
            ),
        ),
        "notes": toml_values,
    },
)


def check_parsed(pins: PinMap) -> None:
    """Whatever parse_pins accepts is a wiring the firmware can drive."""
    numbers = list(pins.named().values())
    assert all(type(n) is int and 0 <= n <= lights.MAX_BCM_GPIO for n in numbers)
    assert len(set(numbers)) == 4
    assert pins.buzzer_kind in lights.BUZZER_KINDS


@FUZZ
@given(pin_tables)
def test_fuzz_structured_pin_maps_parse_or_fail_cleanly(data: dict) -> None:
    try:
        pins = lights.parse_pins(data, "fuzz.toml")
    except PinMapError as exc:
        assert str(exc).startswith("fuzz.toml: ")
        return
    check_parsed(pins)
    assert pins.green == data["leds"]["green"] and pins.buzzer == data["buzzer"]["pin"]


@FUZZ
@given(st.text(max_size=200))
def test_fuzz_any_text_parses_or_fails_cleanly(text: str) -> None:
    try:
        pins = lights.parse_pins_text(text, "fuzz.toml")
    except PinMapError:
        return
    check_parsed(pins)


@FUZZ
@given(
    st.lists(st.integers(0, lights.MAX_BCM_GPIO), min_size=4, max_size=4, unique=True),
    st.sampled_from(lights.BUZZER_KINDS),
)
def test_fuzz_every_valid_wiring_round_trips(numbers: list[int], kind: str) -> None:
    green, red, amber, buzzer = numbers
    text = tomli_w.dumps(
        {
            "leds": {"green": green, "red": red, "amber": amber},
            "buzzer": {"pin": buzzer, "kind": kind},
        }
    )
    assert lights.parse_pins_text(text) == PinMap(green, red, amber, buzzer, kind)


@FUZZ
@given(st.binary(max_size=120))
def test_fuzz_any_bytes_in_a_file(tmp_path_factory: pytest.TempPathFactory, raw: bytes) -> None:
    path = tmp_path_factory.mktemp("pins") / "pins.toml"
    path.write_bytes(raw)
    try:
        check_parsed(load_pins(path))
    except PinMapError as exc:
        assert str(path) in str(exc)
