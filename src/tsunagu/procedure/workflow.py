"""The application state machine: which action may move an application from which state.

    draft ──submit──▶ submitted ──assign──▶ in_review ──approve/reject──▶ approved/rejected
      ▲                   │                     │
      └──── returned ◀────┼──── return (補正) ───┘
    submitted ──auto_approve/auto_reject──▶ approved/rejected   (rules decide)
    draft, submitted, in_review, returned ──withdraw──▶ withdrawn

A service asks :func:`next_state` before changing anything, so no code path
can skip a step (e.g. approve a draft, or reopen a decided application).
"""

from __future__ import annotations

from enum import StrEnum

from tsunagu.core.errors import ConflictError


class State(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    RETURNED = "returned"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Action(StrEnum):
    SUBMIT = "submit"
    ASSIGN = "assign"
    RETURN = "return"
    APPROVE = "approve"
    REJECT = "reject"
    AUTO_APPROVE = "auto_approve"
    AUTO_REJECT = "auto_reject"
    WITHDRAW = "withdraw"
    EDIT = "edit"


OPEN = frozenset({State.DRAFT, State.SUBMITTED, State.IN_REVIEW, State.RETURNED})
FINAL = frozenset({State.APPROVED, State.REJECTED, State.WITHDRAWN})

TRANSITIONS: dict[Action, tuple[frozenset[State], State | None]] = {
    Action.EDIT: (frozenset({State.DRAFT, State.RETURNED}), None),
    Action.SUBMIT: (frozenset({State.DRAFT, State.RETURNED}), State.SUBMITTED),
    Action.ASSIGN: (frozenset({State.SUBMITTED, State.IN_REVIEW}), State.IN_REVIEW),
    Action.RETURN: (frozenset({State.IN_REVIEW}), State.RETURNED),
    Action.APPROVE: (frozenset({State.IN_REVIEW}), State.APPROVED),
    Action.REJECT: (frozenset({State.IN_REVIEW}), State.REJECTED),
    Action.AUTO_APPROVE: (frozenset({State.SUBMITTED}), State.APPROVED),
    Action.AUTO_REJECT: (frozenset({State.SUBMITTED}), State.REJECTED),
    Action.WITHDRAW: (OPEN, State.WITHDRAWN),
}


def next_state(current: str, action: Action) -> State:
    """The state ``action`` leads to from ``current`` (the same state for an edit)."""
    allowed, target = TRANSITIONS[action]
    state = State(current)
    if state not in allowed:
        raise ConflictError(
            "invalid_transition",
            f"現在の状態（{state.value}）ではこの操作（{action.value}）はできません。",
            f"An application that is {state.value} cannot be {action.value}.",
        )
    return target or state
