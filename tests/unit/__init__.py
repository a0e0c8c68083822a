import pytest

# Plain asserts in the shared helper module report their values like those in tests.
pytest.register_assert_rewrite("tests.unit.wire_checks")
