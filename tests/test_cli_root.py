from faultwise.cli import main


def test_help_lists_both_parts(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "rcl" in out and "rft" in out and "demo" in out
