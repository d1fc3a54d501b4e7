"""Signals: the first SIGINT or SIGTERM asks the run to stop after the step, a second Ctrl-C aborts at once, and the
handlers are put back afterwards."""

import os
import signal

import pytest

from arc.training.stop import Interrupted, StopRequest


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_is_recorded_not_raised(signum):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}    # SIG_IGN under `nohup … &`
    with StopRequest() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signum)
        assert stop.requested and stop.signum == signum
    assert {s: signal.getsignal(s) for s in before} == before


def test_a_second_ctrl_c_aborts_at_once():
    with pytest.raises(KeyboardInterrupt), StopRequest():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)


def test_interrupted_exits_with_128_plus_the_signal():
    assert Interrupted(signal.SIGINT, "x").exit_code == 130 and Interrupted(signal.SIGTERM, "x").exit_code == 143
