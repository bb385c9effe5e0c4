"""Configs: paper defaults, validation before training, stable ids."""
import pytest

from ffcnn_lib.config import Config


def test_defaults_are_the_papers_best_configuration():
    c = Config()
    assert (c.model, c.filters, c.kernel, c.K, c.label_set, c.batch_size, c.lr, c.epochs) == \
        ("ff", (128, 128, 128), 7, 0.35, "set1", 50, 5e-5, 200)
    assert not c.include_first_layer and not c.max_pool
    assert (c.n_train, c.n_val) == (50_000, 10_000)
    bp = Config.bp()
    assert (bp.model, bp.filters, bp.kernel, bp.lr, bp.batch_size, bp.epochs) == ("bp", (16, 16, 16), 5, 1e-3, 50, 200)


def test_int_filters_mean_three_equal_layers():
    assert Config(filters=32).filters == (32, 32, 32)
    assert Config(filters=[32, 64, 128]).filters == (32, 64, 128)


@pytest.mark.parametrize("kwargs, message", [
    (dict(label_set="set3"), "'set3'.*allowed: onehot, set1, set2"),
    (dict(K=1.2), r"K=1.2 .*\(0, 1\)"),
    (dict(K=0.0), r"K=0.0 .*\(0, 1\)"),
    (dict(kernel=4), "kernel size 4 .*odd"),
    (dict(kernel=-3), "kernel size -3"),
    (dict(batch_size=0), "batch size 0 must be at least 1"),
    (dict(model="xx"), "'xx'.*allowed: ff, bp"),
    (dict(filters=(16,)), "at least 2 layers"),
    (dict(filters=(16, 0, 16)), "positive integers"),
    (dict(n_train=60_000), "n_train=60000 must be in 1..50000"),
    (dict(epochs=0), "epochs 0"),
    (dict(label_cycles=(2, 4)), "at least 3 frequencies"),
    (dict(label_cycles=(2, 4, 20)), r"label_cycles \(2, 4, 20\) must lie in 1..13"),
    (dict(padding="full"), "'full'.*allowed: same, valid"),
    (dict(filters=(8,) * 5, padding="valid"), r"kernel 7 with valid padding shrink 28x28 to \[22, 16, 10, 4, -2\]"),
    (dict(kernel=5, max_pool=True, padding="valid"), "max pooling, valid padding"),
    (dict(model="bp", init="fanin"), "got init='fanin', input_norm=False; allowed: init='torch'"),
])
def test_bad_values_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Config(**kwargs)


def test_run_id_is_stable_readable_and_content_keyed():
    a, b = Config(), Config()
    assert a.run_id() == b.run_id()
    assert a.run_id().startswith("ff-128-128-128-k7-fanin-set1-K0.35-b50-e200-s0-")  # fan-in init: the default
    assert Config(seed=1).run_id() != a.run_id()
    assert Config(classifier_lr=1e-4).run_id() != a.run_id()
    assert Config(tags=("headline",)).run_id() == a.run_id()
    assert Config(label_cycles=(1, 3, 5)).run_id() != a.run_id()
    # a field added later leaves the ids of runs made before it unchanged while at its default
    assert Config(label_cycles=[2, 4, 6]).run_id() == a.run_id()


def test_round_trip_through_dict():
    c = Config(filters=(32, 64, 128), max_pool=True, tags=("x",))
    assert Config.from_dict(c.to_dict()) == c


def test_ids_of_stored_results_stay_valid():
    # The headline run recorded in results/partial (PyTorch's init, the default then) is the 128x7x7 run
    # of every artifact that holds it: report_test is not part of a run's identity (issue #17; the record
    # was migrated from its earlier id 78a555cd7b). New fields and new defaults must not move it.
    expected = "ff-128-128-128-k7-set1-K0.35-b50-e200-s0-78b6bdbeff"
    head = Config(report_test=True, init="torch", classifier_input="neutral")  # the defaults of then
    assert head.run_id() == head.replace(report_test=False).run_id() == expected


def test_a_stored_config_without_a_later_field_takes_the_value_runs_had_before_it():
    from ffcnn_lib.config import ADDED_FIELDS

    old = {k: v for k, v in Config(filters=16, kernel=5).to_dict().items() if k not in ADDED_FIELDS}
    restored = Config.from_dict(old)
    for name, value in ADDED_FIELDS.items():
        assert getattr(restored, name) == (tuple(value) if isinstance(value, list) else value)
    assert restored.run_id() == Config(filters=16, kernel=5, **{
        k: tuple(v) if isinstance(v, list) else v for k, v in ADDED_FIELDS.items()}).run_id()
