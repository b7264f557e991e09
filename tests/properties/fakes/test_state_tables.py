"""Every (state, action) pair of every transition table: legal moves land in a declared state,
illegal ones raise IllegalTransition and nothing else."""

import pytest
from hypothesis import given, strategies as st

from rehearse.fakes.billing.states import INVOICE, SUBSCRIPTION
from rehearse.fakes.crm.states import ACCOUNT, OPPORTUNITY
from rehearse.fakes.machine import IllegalTransition, StateMachine
from rehearse.fakes.payments.states import PAYMENT_INTENT

MACHINES = [SUBSCRIPTION, INVOICE, PAYMENT_INTENT, OPPORTUNITY, ACCOUNT]


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.name)
def test_every_pair_is_either_a_move_or_an_illegal_transition(machine: StateMachine) -> None:
    for state in machine.states:
        for action in machine.actions:
            if machine.allows(state, action):
                assert machine.next(state, action) in machine.states
            else:
                with pytest.raises(IllegalTransition) as info:
                    machine.next(state, action)
                assert (info.value.state, info.value.action) == (state, action)
                assert machine.name in str(info.value)


@given(st.sampled_from(MACHINES).flatmap(
    lambda m: st.tuples(st.just(m), st.lists(st.sampled_from(m.actions), max_size=30))))
def test_random_walks_stay_inside_declared_states(walk) -> None:
    machine, actions = walk
    state = machine.states[0]
    for action in actions:
        if machine.allows(state, action):
            state = machine.next(state, action)
        assert state in machine.states


def test_terminal_states_match_the_domain() -> None:
    # Paid and succeeded are final in Stripe; here a returned bank debit can still reopen them.
    assert set(INVOICE.terminal) == {"void"}
    assert INVOICE.next("paid", "reopen") == "open"
    assert set(SUBSCRIPTION.terminal) == {"incomplete_expired", "canceled"}
    assert set(PAYMENT_INTENT.terminal) == {"canceled"}
    assert PAYMENT_INTENT.next("succeeded", "return") == "requires_payment_method"


def test_illegal_transition_survives_reconstruction_from_args() -> None:
    # SimPy re-raises failed events as type(e)(*e.args).
    error = IllegalTransition("invoice", "paid", "void")
    again = type(error)(*error.args)
    assert str(again) == str(error)


def test_undeclared_state_in_table_is_rejected() -> None:
    with pytest.raises(ValueError):
        StateMachine("broken", {("a", "go"): "b"}, ("a",))
