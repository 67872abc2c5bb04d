"""Domain events while the clock runs: `DomainEvents.dispatching_directly` swaps each signal
for its cheapest equivalent call during `Model.run` and puts the signals back after."""

from __future__ import annotations

from conftest import SCENARIOS

from sim.engine.events import DomainEvents, Signal, _nobody
from sim.engine.model import Model
from sim.scenario import load_scenario


def test_each_signal_is_its_cheapest_equivalent_while_dispatching_and_back_after() -> None:
    events = DomainEvents()
    one: list[tuple] = []
    several: list[tuple] = []
    events.lock_set_sent.subscribe(lambda *args: one.append(args))
    events.link_up.subscribe(lambda *args: several.append(("first", *args)))
    events.link_up.subscribe(lambda *args: several.append(("second", *args)))
    signals = {name: value for name, value in vars(events).items() if isinstance(value, Signal)}
    with events.dispatching_directly():
        assert events.pcpi_taken is _nobody
        assert events.lock_set_sent is signals["lock_set_sent"]._subscribers[0]
        assert events.link_up is signals["link_up"]
        events.pcpi_taken(1.0, None, None)
        events.lock_set_sent(2.0, "B", 64.0)
        events.link_up(3.0, None)
    assert {name: value for name, value in vars(events).items() if isinstance(value, Signal)} == signals
    assert one == [(2.0, "B", 64.0)]
    assert several == [("first", 3.0, None), ("second", 3.0, None)]


def test_the_signals_are_back_when_the_run_raises() -> None:
    events = DomainEvents()
    try:
        with events.dispatching_directly():
            raise RuntimeError("a run that broke")
    except RuntimeError:
        pass
    assert isinstance(events.pcpi_taken, Signal)


def test_a_subscriber_added_between_two_runs_of_one_model_hears_the_second() -> None:
    model = Model(load_scenario(SCENARIOS / "quickstart.yaml"), tables=False)
    model.start()
    model.run(until_s=6 * 3600)
    taken: list[float] = []
    model.events.pcpi_taken.subscribe(lambda now, _volume, _pcpi: taken.append(now))
    model.run(until_s=12 * 3600)
    assert taken and all(6 * 3600 <= t < 12 * 3600 for t in taken)
