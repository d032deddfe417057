"""recbench.interrupt.held: a Ctrl-C or SIGTERM during a store write is delivered after it."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from recbench import interrupt


@pytest.fixture
def default_handlers():
    """Python's Ctrl-C handler and recbench's SIGTERM handler, as `recbench run` has them."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt.terminate)
    interrupt.requested.clear()
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)
    interrupt.requested.clear()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_block_interrupts_right_after_it(signum, default_handlers):
    done = []
    with pytest.raises(KeyboardInterrupt):
        with interrupt.held():
            os.kill(os.getpid(), signum)
            done.append("the write finished")
    assert done == ["the write finished"]
    assert interrupt.requested.is_set() == (signum == signal.SIGTERM)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    assert signal.getsignal(signal.SIGTERM) is interrupt.terminate


def test_a_second_signal_interrupts_at_once(default_handlers):
    done = []
    with pytest.raises(KeyboardInterrupt):
        with interrupt.held():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            done.append("not reached")
    assert done == [] and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_no_signal_no_interrupt_and_ignored_signals_stay_ignored(default_handlers):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with interrupt.held():
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGINT)  # ignored, as before
    assert signal.getsignal(signal.SIGTERM) is interrupt.terminate


def test_outside_the_main_thread_nothing_changes(default_handlers):
    seen = []

    def write():
        with interrupt.held():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=write)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]
