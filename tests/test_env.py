"""The environment record that goes with every measurement."""

import artspeed


def test_environment_describes_this_machine():
    env = artspeed.environment(threads=2)
    assert env.logical_cores >= env.available_cores >= 1
    assert env.cpu_model and env.python.count(".") == 2
    assert env.versions["tensorflow"] and env.versions["tf_keras"]
    assert env.versions["tensorflow"].split(".")[:2] == env.versions["tf_keras"].split(".")[:2]
    assert env.threads == 2


def test_environment_round_trips_through_json():
    env = artspeed.environment()
    again = artspeed.Environment.from_json(env.to_json())
    assert again == env
    assert repr(env).startswith("<Environment ")


def test_isa_table_explains_each_feature():
    env = artspeed.environment()
    table = env.isa_table()
    assert table and all(isinstance(present, bool) and meaning for _, present, meaning in table)
    assert {name for name, present, _ in table if present} <= set(env.isa)
    html = env._repr_html_()
    assert "ISA feature" in html and env.cpu_model in html
