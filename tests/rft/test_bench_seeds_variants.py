"""Bench base seeds over the whole 32-bit range, bench variants, and the balanced plan order behind --limit."""

from __future__ import annotations

from collections import Counter

import pytest

from faultwise.cli import main
from faultwise.errors import InputError
from faultwise.rft.faultbench import RunConfig, policy, run_configs, runner
from faultwise.rft.faultbench import generator as gen
from faultwise.rft.faultbench.load import read_registry
from faultwise.rft.faultbench.scales import SCALES, VARIANTS, balanced_order, check_base_seed

MAX_SEED = 2**32 - 1


@pytest.mark.parametrize("scale", sorted(SCALES))
@pytest.mark.parametrize("seed", [0, 42_950, MAX_SEED])
def test_every_base_seed_gives_valid_distinct_runs_at_every_scale(scale, seed):
    cfgs = run_configs(scale, seed)
    assert len({c.run_id for c in cfgs}) == len(cfgs)
    lib = [c.library_seed for c in cfgs]
    assert all(0 <= s < 2**32 for s in lib)  # what torch / numpy.random.seed accept
    assert len(set(lib)) == len({c.seed for c in cfgs})  # distinct run seeds stay distinct


def test_library_seed_is_the_seed_below_32_bits_and_a_stable_fold_above():
    assert RunConfig(seed=12345).library_seed == 12345
    big = RunConfig(seed=MAX_SEED * 100_000 + 7)
    assert big.library_seed == RunConfig(seed=MAX_SEED * 100_000 + 7).library_seed < 2**32
    assert big.library_seed != RunConfig(seed=MAX_SEED * 100_000 + 8).library_seed


@pytest.mark.parametrize("bad", [-1, 2**32, True, 1.5])
def test_bad_base_seeds_are_refused(bad):
    with pytest.raises(InputError, match="0 ... 4294967295"):
        check_base_seed(bad)
    with pytest.raises(InputError):
        run_configs("smoke", bad)


def test_wide_variant_changes_the_policy_and_the_hyperparameter_ranges_not_the_run_ids():
    default, wide = run_configs("small", 5), run_configs("small", 5, "wide")
    assert [c.run_id for c in default] == [c.run_id for c in wide]
    assert {c.policy_config().key() for c in default} != {c.policy_config().key() for c in wide}
    p_def, p_wide = default[0].policy_config(), wide[0].policy_config()
    assert p_wide.hidden_size > p_def.hidden_size and p_wide.layers > p_def.layers
    for field, attr in [
        ("learning_rate", "learning_rates"),
        ("beta", "betas"),
        ("temperature", "temperatures"),
    ]:
        seen = {getattr(c, field) for c in wide}
        assert seen <= set(getattr(VARIANTS["wide"], attr))
        assert seen - set(getattr(VARIANTS["default"], attr))  # values the default never draws
        assert min(seen) < min(getattr(c, field) for c in default)
        if field != "learning_rate":  # a wider range, not a shifted copy
            assert max(seen) > max(getattr(c, field) for c in default)
    # the larger policy trains at lower learning rates (at 1e-3 most of its fault-free runs collapsed)
    assert max(VARIANTS["wide"].learning_rates) < max(VARIANTS["default"].learning_rates)


@pytest.mark.trl
@pytest.mark.smoke
def test_wide_variant_starts_with_a_skilled_policy(tmp_path):
    """The variant must change the policy's size, not its starting skill: a warm start that leaves the larger
    policy near chance makes its fault-free runs collapse and its "normal" runs fail (at the default warm-start
    learning rate it reached 0.16 held-out accuracy; the default policy starts at about 0.63)."""
    from faultwise.rft.faultbench.policy import load_policy, warm_start
    from faultwise.rft.fm.remediate.supervisor import heldout_accuracy

    wide = run_configs("small", 5, "wide")[0].policy_config()
    model, _ = load_policy(warm_start(wide, tmp_path))
    assert heldout_accuracy(model, 128) >= 0.45


def test_balanced_order_makes_every_prefix_cover_types_and_strengths():
    cfgs = run_configs("small", 3)
    order = balanced_order(cfgs)
    assert sorted(c.run_id for c in order) == sorted(c.run_id for c in cfgs)
    n_normal = SCALES["small"].normal_runs
    assert all(c.fault_type == "none" for c in order[:n_normal])
    n_types = len(SCALES["small"].fault_types)
    first_round = order[n_normal : n_normal + 2 * n_types]
    assert Counter((c.fault_type, c.strength) for c in first_round) == Counter(
        {(t, s): 1 for t in SCALES["small"].fault_types for s in ("easy", "hard")}
    )
    assert 0 < sum(c.onset_step > 1 for c in first_round) < len(first_round)  # both onsets already in round 1


def test_generate_with_a_limit_and_a_variant_records_both_and_resumes(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from tests.rft.test_bench_generate import _stand_in_run

    monkeypatch.setattr(policy, "warm_start", lambda cfg, cache_dir=None: tmp_path)
    monkeypatch.setattr(runner, "run", _stand_in_run)
    out = tmp_path / "bench"
    gen.generate(out, scale="smoke", seed=MAX_SEED, variant="wide", first=3)
    rows = read_registry(out)
    assert len(rows) == 3
    assert all(RunConfig.model_validate_json(r.config).policy == VARIANTS["wide"].policy for r in rows)
    summary = gen.generate(out, scale="smoke", seed=MAX_SEED, variant="wide")
    assert summary.already_done == 3 and len(read_registry(out)) == len(run_configs("smoke", MAX_SEED))
    with pytest.raises(InputError, match="variant wide"):
        gen.generate(out, scale="smoke", seed=MAX_SEED)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["generate", "B", "--seed", str(2**32)], "--seed"),
        (["generate", "B", "--seed", "-1"], "--seed"),
        (["generate", "B", "--variant", "huge"], "--variant"),
        (["generate", "B", "--limit", "0"], "--limit"),
        (["remediate", "B", "--seed", str(2**32)], "--seed"),
    ],
)
def test_bad_seed_variant_or_limit_is_one_line_before_any_worker(argv, flag, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["rft", "bench", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"faultwise: error: {flag}:"), err
    assert not (tmp_path / "B").exists()
