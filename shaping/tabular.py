"""Exact dynamic programming on tabular models ``P[s, a, s']``, ``R[s, a, s']``, with and without shaping.

Used by the tutorials and tests to check, exactly, what shaping does to the optimal policy: a
potential-based term ``gamma * Phi(s') - Phi(s)`` (with ``Phi(terminal) = 0``) leaves the optimal
actions unchanged and shifts every state value by ``-Phi(s)``; a plain bonus can change them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlsuite.validation import check_int, check_real


@dataclass(frozen=True)
class TabularSolution:
    """Optimal values ``V[s]``, action values ``Q[s, a]`` and a greedy ``policy[s]``."""

    V: np.ndarray
    Q: np.ndarray
    policy: np.ndarray
    iterations: int

    def optimal_actions(self, tol: float = 1e-9) -> np.ndarray:
        """Boolean mask ``[S, A]`` of the actions within ``tol`` of the best (ties included)."""
        return self.Q >= self.Q.max(1, keepdims=True) - tol


def _check(P: np.ndarray, R: np.ndarray, terminal: np.ndarray, gamma: float) -> float:
    if P.ndim != 3 or P.shape[0] != P.shape[2]:
        raise ValueError(f"P: got shape {P.shape}; expected [S, A, S]")
    if R.shape != P.shape:
        raise ValueError(f"R: got shape {R.shape}; expected P's shape {P.shape}")
    if terminal.shape != (P.shape[0],):
        raise ValueError(f"terminal: got shape {terminal.shape}; expected ({P.shape[0]},)")
    if not np.all(np.isfinite(P)) or np.any(P < 0):
        raise ValueError("P: probabilities must be finite and >= 0")
    if not np.allclose(P.sum(2), 1.0):
        raise ValueError("P: every row P[s, a, :] must sum to 1")
    if not np.all(np.isfinite(R)):
        raise ValueError("R: rewards must be finite")
    return check_real("gamma", gamma, low=0.0, high=1.0)


def _potential(potential: np.ndarray, n_states: int) -> np.ndarray:
    phi = np.asarray(potential, dtype=np.float64)
    if phi.shape != (n_states,) or not np.all(np.isfinite(phi)):
        raise ValueError(
            f"potential: got shape {phi.shape}; must be ({n_states},) finite values, one per state"
        )
    return phi


def shape_rewards(R: np.ndarray, potential: np.ndarray, terminal: np.ndarray, gamma: float) -> np.ndarray:
    """``R[s, a, s'] + gamma * Phi(s') - Phi(s)`` with ``Phi`` set to 0 on terminal states."""
    gamma = check_real("gamma", gamma, low=0.0, high=1.0)
    R, terminal = np.asarray(R, dtype=np.float64), np.asarray(terminal, dtype=bool)
    if R.ndim != 3 or terminal.shape != (R.shape[2],):
        raise ValueError(
            f"R: got shape {R.shape} with terminal {terminal.shape}; expected [S, A, S] and (S,)"
        )
    phi = _potential(potential, R.shape[0])
    phi_next = np.where(terminal, 0.0, phi)
    return R + gamma * phi_next[None, None, :] - phi[:, None, None]


def value_iteration(
    P: np.ndarray,
    R: np.ndarray,
    terminal: np.ndarray,
    gamma: float,
    potential: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iterations: int = 100_000,
) -> TabularSolution:
    """Optimal values of the MDP (terminal states absorbing with value 0), optionally with
    potential-based shaping by ``potential`` (a value per state)."""
    P, R, terminal = np.asarray(P, float), np.asarray(R, float), np.asarray(terminal, bool)
    gamma = _check(P, R, terminal, gamma)
    tol = check_real("tol", tol, low=0.0, low_open=True)
    max_iterations = check_int("max_iterations", max_iterations, low=1)
    if potential is not None:
        R = shape_rewards(R, potential, terminal, gamma)
    expected_r = (P * R).sum(2)
    V = np.zeros(P.shape[0])
    it = 0
    while it < max_iterations:
        it += 1
        Q = expected_r + gamma * P @ np.where(terminal, 0.0, V)
        V_new = np.where(terminal, 0.0, Q.max(1))
        if np.max(np.abs(V_new - V)) < tol:
            V = V_new
            break
        V = V_new
    Q = expected_r + gamma * P @ np.where(terminal, 0.0, V)
    return TabularSolution(V=V, Q=Q, policy=Q.argmax(1), iterations=it)


def policy_evaluation(
    P: np.ndarray, R: np.ndarray, terminal: np.ndarray, gamma: float, policy: np.ndarray
) -> np.ndarray:
    """Exact values of a deterministic ``policy[s]`` (a linear solve; ``gamma < 1`` or a proper policy)."""
    P, R, terminal = np.asarray(P, float), np.asarray(R, float), np.asarray(terminal, bool)
    gamma = _check(P, R, terminal, gamma)
    S = P.shape[0]
    policy = np.asarray(policy)
    if (
        policy.shape != (S,)
        or policy.dtype.kind not in "iu"
        or np.any(policy < 0)
        or np.any(policy >= P.shape[1])
    ):
        raise ValueError(f"policy: got {policy!r:.60}; must be ({S},) integer actions in [0, {P.shape[1]})")
    idx = np.arange(S)
    P_pi = P[idx, policy] * (~terminal)[None, :]
    r_pi = (P[idx, policy] * R[idx, policy]).sum(1)
    A = np.eye(S) - gamma * P_pi
    A[terminal] = 0.0
    A[terminal, terminal] = 1.0
    r_pi = np.where(terminal, 0.0, r_pi)
    return np.linalg.solve(A, r_pi)
