from faultwise.cli import main


def test_help_lists_both_parts(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "rcl" in out and "rft" in out and "demo" in out


def test_bad_option_value_is_one_line_not_a_traceback(capsys):
    code = main(["rcl", "bench", "nezha", "/nonexistent", "--limit", "abc"])
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err


def test_atomic_outputs_are_world_readable(tmp_path):
    import os
    import stat

    from faultwise.io import atomic_write_text

    p = tmp_path / "out.txt"
    old = os.umask(0o022)
    try:
        atomic_write_text(p, "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644
