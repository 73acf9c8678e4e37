"""The language-model protocol: raw strings in, admissible actions out.

:class:`TextActionWrapper` turns a text env (index actions over ``info["admissible_actions"]``)
into one that takes the string a language model writes. It understands

* bare actions: ``"up"``, ``"search[red shoes]"`` (case and spacing do not matter);
* tagged actions: ``"<think>...</think><action>up</action>"`` (verl-agent) or ``<answer>...</answer>``
  (RAGEN); the text outside the tags is ignored;
* several actions in one turn: ``"up || up || left"`` (RAGEN), executed in order while the
  episode runs.

Envs that understand free-form actions (``accepts_text_actions``, e.g. WebShop-lite's
``search[any words]``) receive them as strings. An action that is not admissible ends the turn:
the env is not stepped for it, the turn's reward gets ``invalid_penalty``, and
``info["is_action_valid"]`` is False (with the offending strings in ``info["invalid_actions"]``).
Malformed input never raises, and parsing takes time linear in the input (plain string scans,
no backtracking regular expressions; strings longer than ``max_length`` are invalid unparsed).
Turns are counted, and the episode is truncated after ``max_turns`` turns, so a model that only
writes invalid text cannot loop forever. Stepping before ``reset`` or after the episode ended
raises ``RuntimeError`` like every rlsuite env.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium import spaces

from rlsuite.validation import check_int, check_real

from ..validation import check_step_allowed

_TAGS = ("action", "answer")


def normalize_action(text: str) -> str:
    """Lower-case, single spaces, no spaces just inside brackets: ``"Search[ Red  Shoes ]"`` ->
    ``"search[red shoes]"``. Each ``[`` is paired with the next ``]``; one pass over the text."""
    t = " ".join(text.lower().split())
    parts: list[str] = []
    pos = 0
    while True:
        open_at = t.find("[", pos)
        close_at = t.find("]", open_at + 1) if open_at >= 0 else -1
        if close_at < 0:
            break
        parts += [t[pos:open_at], "[", t[open_at + 1 : close_at].strip(), "]"]
        pos = close_at + 1
    parts.append(t[pos:])
    return "".join(parts)


def _tagged(text: str) -> list[str]:
    """The contents of ``<action>...</action>`` / ``<answer>...</answer>`` in order (case-insensitive,
    the shortest match for each opening tag). Linear: each ``find`` resumes where the last ended,
    and a tag whose closing tag no longer occurs is dropped."""
    low = text.lower()
    found: list[str] = []
    live = list(_TAGS)
    pos = 0
    while live:
        starts = {tag: low.find(f"<{tag}>", pos) for tag in live}
        live = [tag for tag in live if starts[tag] >= 0]
        if not live:
            break
        tag = min(live, key=lambda t: starts[t])
        body = starts[tag] + len(tag) + 2
        end = low.find(f"</{tag}>", body)
        if end < 0:
            live.remove(tag)  # no closing tag after this point: later openings cannot match either
            continue
        found.append(text[body:end])
        pos = end + len(tag) + 3
    return found


def parse_actions(text: Any) -> list[str]:
    """The action strings of one model turn (possibly empty)."""
    if not isinstance(text, str):
        return []
    tagged = _tagged(text)
    body = " || ".join(tagged) if tagged else text
    return [normalize_action(part) for part in body.split("||") if part.strip()]


def group_seeds(seed: int, n_groups: int, group_size: int) -> list[int]:
    """Seeds for a vector env of ``n_groups * group_size`` copies in which each consecutive
    group of ``group_size`` copies plays the same instance (group-relative methods such as
    GRPO / GiGPO): ``envs.reset(seed=group_seeds(0, 4, 8))``."""
    if n_groups < 1 or group_size < 1:
        raise ValueError(f"n_groups, group_size: got {n_groups}, {group_size}; both must be >= 1")
    return [int(seed) + g for g in range(n_groups) for _ in range(group_size)]


class TextActionWrapper(gym.Wrapper):
    """Raw-string actions for a text env (see the module docstring).

    Args:
        env: a text env (``info["admissible_actions"]`` and index actions).
        invalid_penalty: reward added for a turn with an invalid action (e.g. -0.1).
        max_turns: truncate after this many turns (default: the env's ``max_steps``, else 100).
        max_length: longest accepted string (longer input is invalid).
    """

    def __init__(
        self,
        env: gym.Env,
        invalid_penalty: float = -0.1,
        max_turns: int | None = None,
        max_length: int = 4096,
    ) -> None:
        super().__init__(env)
        self.invalid_penalty = check_real("invalid_penalty", invalid_penalty)
        default_turns = getattr(env.unwrapped, "max_steps", 100)
        self.max_turns = check_int("max_turns", max_turns if max_turns is not None else default_turns, 1)
        self.max_length = check_int("max_length", max_length, 1)
        self.action_space = spaces.Text(max_length=self.max_length)
        self._info: dict[str, Any] = {}
        self._obs: Any = None
        self._turns = 0
        self._started, self._ended = False, False

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._obs, self._info, self._turns = obs, info, 0
        self._started, self._ended = True, False
        return obs, info

    def step(self, action: Any):
        check_step_allowed(self._started, self._ended)
        self._turns += 1
        actions = parse_actions(action) if isinstance(action, str) and len(action) <= self.max_length else []
        total, terminated, truncated = 0.0, False, False
        executed: list[str] = []
        invalid: list[str] = [] if actions else [str(action)[:200]]
        info = dict(self._info)
        for text in actions:
            admissible = [normalize_action(a) for a in self._info["admissible_actions"]]
            if text in admissible:
                self._obs, r, terminated, truncated, info = self.env.step(admissible.index(text))
            elif getattr(self.env.unwrapped, "accepts_text_actions", False):
                # Free-form actions the env understands (WebShop's search[any words]).
                obs, r, terminated, truncated, info = self.env.step(text)
                if not info.get("is_action_valid", True):
                    invalid.append(text)
                    self._obs, self._info = obs, info
                    break
                self._obs = obs
            else:
                invalid.append(text)
                break
            self._info = info
            total += float(r)
            executed.append(text)
            if terminated or truncated:
                break
        if invalid:
            total += self.invalid_penalty
        if not (terminated or truncated) and self._turns >= self.max_turns:
            truncated = True
        self._ended = terminated or truncated
        info = {
            **info,
            "is_action_valid": not invalid,
            "invalid_actions": invalid,
            "executed_actions": executed,
        }
        return self._obs, total, terminated, truncated, info


class ExpertSpeaker:
    """A scripted "language model": the index policy's choice written as
    ``<think>...</think><action>...</action>``, for testing the string protocol end to end."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy

    def __call__(self, obs: Any, info: dict[str, Any]) -> str:
        index, _ = self.policy.predict(obs)
        return f"<think>the expert's move</think><action>{info['admissible_actions'][int(index)]}</action>"
