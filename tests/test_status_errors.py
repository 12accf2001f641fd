"""IllegalTransitionError carries its fields; the message stays as before."""
import pytest

from localtask import status
from localtask.exceptions import IllegalTransitionError


def test_illegal_transition_fields():
    with pytest.raises(IllegalTransitionError) as info:
        status.check("abc", "completed", "edit")
    exc = info.value
    assert (exc.task_id, exc.status, exc.operation, exc.allowed, exc.forceable) == (
        "abc", "completed", "edit", ("created",), True)
    assert str(exc).endswith("; pass force=True (CLI: --force) to do it anyway")
    with pytest.raises(IllegalTransitionError) as info:
        status.check("abc", "published", "edit", force=True)
    assert info.value.forceable is False
