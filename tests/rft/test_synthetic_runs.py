"""The synthetic runs the failure-manager tests use (``conftest.synthetic_run``) move what they claim."""


def test_fault_changes_its_signals(make_run):
    base = make_run(3)
    hit = make_run(3, "entropy_collapse", "easy", onset=10)
    assert hit[20].entropy < 0.5 * base[20].entropy
    assert hit[5].entropy == base[5].entropy and not hit[5].fault_active and hit[10].fault_active
