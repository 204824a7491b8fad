"""artspeed.measure_energy: CPU time, RAPL where readable, the estimate and the cost."""

from __future__ import annotations

import json

import numpy as np
import pytest

import artspeed
from artspeed import EnergyCost
from artspeed.core.errors import ArtspeedError, InvalidArgumentError


@pytest.fixture(scope="module")
def tiny_xml(tmp_path_factory):
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    model = artspeed.baseline_cnn(width=4)
    return artspeed.save_ir(artspeed.convert_model(model),
                            tmp_path_factory.mktemp("energy") / "tiny.xml")


def _rapl_reason():
    try:
        artspeed.rapl_domains()
    except ArtspeedError as exc:
        return str(exc)
    return None


def test_the_estimate_from_cpu_time(tiny_xml):
    cost = artspeed.measure_energy(tiny_xml, batch_size=2, iterations=50, warmup=3,
                                   source="estimate", watts_per_core=7.5,
                                   price_per_core_hour=0.04, currency="EUR")
    assert cost.source == "estimate" and cost.watts_per_core == 7.5
    assert cost.rapl_unavailable == "estimate asked for (source='estimate')"
    assert cost.runtime == "openvino" and cost.batch_size == 2
    assert cost.inferences == (50 + 1) * 2     # the timed runs and run_timed's first, in samples
    assert cost.cpu_s > 0 and cost.wall_s > 0
    assert cost.cpu_s_per_inference == cost.cpu_s / cost.inferences
    assert cost.joules_per_inference == cost.cpu_s_per_inference * 7.5
    assert cost.cost_per_million == pytest.approx(cost.cpu_s_per_inference * 1e6 / 3600 * 0.04)
    assert cost.currency == "EUR" and cost.price_per_core_hour == 0.04
    assert "an estimate, not a measurement" in cost.note and "7.5 W" in cost.note
    assert "estimate at 7.5 W/core" in repr(cost) and "EUR" in repr(cost)
    assert EnergyCost.from_dict(json.loads(cost.to_json())) == cost
    assert "<table" in cost._repr_html_()


def test_rapl_here_or_why_not(tiny_xml):
    reason = _rapl_reason()
    cost = artspeed.measure_energy(tiny_xml, duration_s=0.3, warmup=3)
    assert cost.price_per_core_hour == artspeed.DEFAULT_PRICE_PER_CORE_HOUR
    if reason is None:   # readable counters: a measurement of the whole package
        assert cost.source == "rapl" and cost.watts_per_core is None
        assert cost.rapl_domains and cost.joules_per_inference > 0
        assert artspeed.measure_energy(tiny_xml, iterations=20, source="rapl").source == "rapl"
    else:                # this machine: the estimate, saying why
        assert cost.source == "estimate"
        assert cost.watts_per_core == artspeed.DEFAULT_WATTS_PER_CORE
        assert cost.rapl_unavailable == f"RAPL unavailable: {reason}"
        with pytest.raises(ArtspeedError, match="RAPL energy counters cannot be read"):
            artspeed.measure_energy(tiny_xml, iterations=5, source="rapl")


def _domain(root, name, label, energy, top=10**12):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "name").write_text(label + "\n")
    (folder / "energy_uj").write_text(f"{energy}\n")
    (folder / "max_energy_range_uj").write_text(f"{top}\n")


def test_rapl_domains_reads_the_packages_only(tmp_path):
    # a tree laid out as Linux's powercap sysfs: two packages, a part of one, psys, mmio
    _domain(tmp_path, "intel-rapl:0", "package-0", 123)
    _domain(tmp_path, "intel-rapl:0:0", "core", 45)
    _domain(tmp_path, "intel-rapl:1", "package-1", 678)
    _domain(tmp_path, "intel-rapl:2", "psys", 999)
    _domain(tmp_path, "intel-rapl-mmio:0", "package-0", 123)
    domains = artspeed.rapl_domains(tmp_path)
    assert [(d.name, d.energy_uj, d.max_energy_range_uj) for d in domains] == [
        ("package-0", 123, 10**12), ("package-1", 678, 10**12)]
    with pytest.raises(ArtspeedError, match="no intel-rapl:N domain"):
        artspeed.rapl_domains(tmp_path / "intel-rapl:0")
    with pytest.raises(ArtspeedError, match="no .*gone here"):
        artspeed.rapl_domains(tmp_path / "gone")


def test_a_plain_callable_and_bad_input(tiny_xml):
    x = np.random.default_rng(0).random((4, 1000)).astype(np.float32)
    cost = artspeed.measure_energy(np.sort, x, iterations=20, source="estimate")
    assert cost.name == "sort" and cost.batch_size == 4 and cost.inferences == 21 * 4
    with pytest.raises(InvalidArgumentError, match="needs x"):
        artspeed.measure_energy(np.sort)
    for kwargs, message in (({"source": "meter"}, "unknown source 'meter'"),
                            ({"watts_per_core": 0}, "watts_per_core must be"),
                            ({"price_per_core_hour": -1}, "price_per_core_hour must be"),
                            ({"currency": ""}, "currency must be"),
                            ({"warmup": -1}, "warmup must be"),
                            ({"duration_s": 0}, "duration_s must be")):
        with pytest.raises(InvalidArgumentError, match=message):
            artspeed.measure_energy(tiny_xml, **kwargs)
