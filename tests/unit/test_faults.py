import pytest

from harness.config.faults import FaultSpec, parse_fault, parse_faults


def test_fault_forms() -> None:
    assert parse_fault("sigkill:node1@30") == FaultSpec("sigkill", "node1", 30.0)
    assert parse_fault("sigstop:node2@10.5-15") == FaultSpec("sigstop", "node2", 10.5, 15.0)
    assert str(parse_fault("shutdown:redis@5-9")) == "shutdown:redis@5-9"
    assert parse_faults("sigkill:node1@3-6, reload:nginx@8") == (
        FaultSpec("sigkill", "node1", 3.0, 6.0),
        FaultSpec("reload", "nginx", 8.0),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kill node1 at 30", "write ACTION:TARGET@SECONDS"),
        ("explode:node1@3", "action 'explode': one of sigkill, shutdown"),
        ("restart:node1@3-5", "restart has nothing to restore"),
        ("sigstop:node1@5-5", "must come after 5 s"),
    ],
)
def test_bad_faults_are_named(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_fault(text)


def test_reload_and_redeploy_faults() -> None:
    reload = parse_fault("context-reload:node1@10")
    assert (reload.action, reload.target, reload.at_s, reload.restore_at_s) == (
        "context-reload", "node1", 10.0, None,
    )  # fmt: skip
    assert parse_fault("redeploy:node2@5").restore_at_s is None  # deployed again at once
    assert parse_fault("redeploy:node2@5-8").restore_at_s == 8.0
    with pytest.raises(ValueError, match="nothing to restore"):
        parse_fault("context-reload:node1@10-12")
