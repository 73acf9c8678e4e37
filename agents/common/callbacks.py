"""Callbacks with Stable-Baselines3's hooks: ``_on_training_start``, ``_on_rollout_start``,
``_on_step`` (return False to stop), ``_on_rollout_end``, ``_on_training_end``.

Frequencies (``eval_freq``, ``save_freq``) count calls to ``env.step`` of the vector env, i.e.
``n_envs`` timesteps each, as in SB3.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from rlsuite.evaluation import run_episode
from rlsuite.validation import check_int, check_seed

if TYPE_CHECKING:  # pragma: no cover
    from .base import OnPolicyAlgorithm


class BaseCallback:
    """Base class; subclasses override the ``_on_*`` hooks."""

    def __init__(self, verbose: int = 0) -> None:
        self.verbose = verbose
        self.model: OnPolicyAlgorithm | None = None
        self.n_calls = 0
        self.num_timesteps = 0
        self.locals: dict[str, Any] = {}

    @property
    def logger(self) -> Any:
        assert self.model is not None
        return self.model.logger

    def init_callback(self, model: OnPolicyAlgorithm) -> None:
        self.model = model
        self._init_callback()

    def _init_callback(self) -> None:
        return None

    def on_training_start(self, locals_: dict[str, Any]) -> None:
        self.locals = locals_
        assert self.model is not None
        self.num_timesteps = self.model.num_timesteps
        self._on_training_start()

    def _on_training_start(self) -> None:
        return None

    def on_rollout_start(self) -> None:
        self._on_rollout_start()

    def _on_rollout_start(self) -> None:
        return None

    def on_step(self) -> bool:
        self.n_calls += 1
        assert self.model is not None
        self.num_timesteps = self.model.num_timesteps
        return self._on_step()

    def _on_step(self) -> bool:
        return True

    def on_rollout_end(self) -> None:
        self._on_rollout_end()

    def _on_rollout_end(self) -> None:
        return None

    def on_training_end(self) -> None:
        self._on_training_end()

    def _on_training_end(self) -> None:
        return None

    def update_locals(self, locals_: dict[str, Any]) -> None:
        self.locals.update(locals_)


class CallbackList(BaseCallback):
    def __init__(self, callbacks: list[BaseCallback]) -> None:
        super().__init__()
        self.callbacks = list(callbacks)

    def _init_callback(self) -> None:
        assert self.model is not None
        for c in self.callbacks:
            c.init_callback(self.model)

    def _on_training_start(self) -> None:
        for c in self.callbacks:
            c.on_training_start(self.locals)

    def _on_rollout_start(self) -> None:
        for c in self.callbacks:
            c.on_rollout_start()

    def _on_step(self) -> bool:
        keep = True
        for c in self.callbacks:
            keep = c.on_step() and keep
        return keep

    def _on_rollout_end(self) -> None:
        for c in self.callbacks:
            c.on_rollout_end()

    def _on_training_end(self) -> None:
        for c in self.callbacks:
            c.on_training_end()

    def update_locals(self, locals_: dict[str, Any]) -> None:
        for c in self.callbacks:
            c.update_locals(locals_)


def evaluate_policy(
    model: Any, env: gym.Env, n_eval_episodes: int = 10, deterministic: bool = True, seed: int | None = None
) -> tuple[float, float, list[float], list[int]]:
    """Run ``n_eval_episodes`` full episodes of ``model.predict`` on a single env (episode k reset
    with ``seed + k``, or unseeded when ``seed`` is None): ``(mean return, std, returns, lengths)``
    as in Stable-Baselines3 (the population std, ``ddof=0``)."""
    n_eval_episodes = check_int("n_eval_episodes", n_eval_episodes, low=1)
    seed = check_seed("seed", seed)
    seeds = [None] * n_eval_episodes if seed is None else [seed + k for k in range(n_eval_episodes)]
    episodes = [run_episode(env, model, s, deterministic=deterministic) for s in seeds]
    returns = [e.total_reward for e in episodes]
    return float(np.mean(returns)), float(np.std(returns)), returns, [e.length for e in episodes]


class StopTrainingOnRewardThreshold(BaseCallback):
    """Used as ``EvalCallback(callback_on_new_best=...)``: stops when the best mean reward
    reaches ``reward_threshold``."""

    def __init__(self, reward_threshold: float, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.reward_threshold = float(reward_threshold)
        self.parent: EvalCallback | None = None

    def _on_step(self) -> bool:
        if self.parent is None:
            raise ValueError(
                "StopTrainingOnRewardThreshold must be used as EvalCallback(callback_on_new_best=...)"
            )
        keep = self.parent.best_mean_reward < self.reward_threshold
        if not keep and self.verbose:
            print(
                f"Stopping: best mean reward {self.parent.best_mean_reward:.2f} "
                f">= {self.reward_threshold:.2f}"
            )
        return keep


class EvalCallback(BaseCallback):
    """Evaluates the model every ``eval_freq`` vector steps on ``eval_env``; logs
    ``eval/mean_reward`` and ``eval/mean_ep_length``, writes ``evaluations.npz`` to ``log_path``
    and ``best_model.zip`` to ``best_model_save_path``."""

    def __init__(
        self,
        eval_env: gym.Env | str,
        callback_on_new_best: BaseCallback | None = None,
        callback_after_eval: BaseCallback | None = None,
        n_eval_episodes: int = 5,
        eval_freq: int = 10000,
        log_path: str | Path | None = None,
        best_model_save_path: str | Path | None = None,
        deterministic: bool = True,
        verbose: int = 1,
        seed: int | None = None,
    ) -> None:
        super().__init__(verbose)
        if eval_freq < 1 or n_eval_episodes < 1:
            raise ValueError(
                f"eval_freq and n_eval_episodes must be >= 1, got {eval_freq}, {n_eval_episodes}"
            )
        self.eval_env = gym.make(eval_env) if isinstance(eval_env, str) else eval_env
        self.callback_on_new_best = callback_on_new_best
        self.callback_after_eval = callback_after_eval
        if isinstance(callback_on_new_best, StopTrainingOnRewardThreshold):
            callback_on_new_best.parent = self
        if isinstance(callback_after_eval, StopTrainingOnRewardThreshold):
            callback_after_eval.parent = self
        self.n_eval_episodes, self.eval_freq, self.deterministic = n_eval_episodes, eval_freq, deterministic
        self.log_path = Path(log_path) if log_path is not None else None
        self.best_model_save_path = Path(best_model_save_path) if best_model_save_path is not None else None
        self.seed = seed
        self.best_mean_reward = -np.inf
        self.last_mean_reward = -np.inf
        self.evaluations_timesteps: list[int] = []
        self.evaluations_results: list[list[float]] = []
        self.evaluations_length: list[list[int]] = []

    def _init_callback(self) -> None:
        assert self.model is not None
        for c in (self.callback_on_new_best, self.callback_after_eval):
            if c is not None:
                c.init_callback(self.model)

    def _on_step(self) -> bool:
        if self.n_calls % self.eval_freq != 0:
            return True
        assert self.model is not None
        mean, std, returns, lengths = evaluate_policy(
            self.model, self.eval_env, self.n_eval_episodes, self.deterministic, self.seed
        )
        self.last_mean_reward = mean
        self.evaluations_timesteps.append(self.num_timesteps)
        self.evaluations_results.append(returns)
        self.evaluations_length.append(lengths)
        if self.log_path is not None:
            self.log_path.mkdir(parents=True, exist_ok=True)
            np.savez(
                self.log_path / "evaluations.npz",
                timesteps=self.evaluations_timesteps,
                results=self.evaluations_results,
                ep_lengths=self.evaluations_length,
            )
        self.logger.record("eval/mean_reward", mean)
        self.logger.record("eval/mean_ep_length", float(np.mean(lengths)))
        if self.verbose:
            print(f"Eval num_timesteps={self.num_timesteps}, episode_reward={mean:.2f} +/- {std:.2f}")
        keep = True
        if mean > self.best_mean_reward:
            self.best_mean_reward = mean
            if self.best_model_save_path is not None:
                self.best_model_save_path.mkdir(parents=True, exist_ok=True)
                self.model.save(self.best_model_save_path / "best_model.zip")
            if self.callback_on_new_best is not None:
                keep = self.callback_on_new_best.on_step()
        if self.callback_after_eval is not None:
            keep = self.callback_after_eval.on_step() and keep
        return keep


class CheckpointCallback(BaseCallback):
    """Saves the model every ``save_freq`` vector steps to
    ``save_path/{name_prefix}_{timesteps}_steps.zip``."""

    def __init__(
        self, save_freq: int, save_path: str | Path, name_prefix: str = "rl_model", verbose: int = 0
    ) -> None:
        super().__init__(verbose)
        if save_freq < 1:
            raise ValueError(f"save_freq: got {save_freq}; must be >= 1")
        self.save_freq, self.save_path, self.name_prefix = save_freq, Path(save_path), name_prefix

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq == 0:
            assert self.model is not None
            self.save_path.mkdir(parents=True, exist_ok=True)
            path = self.save_path / f"{self.name_prefix}_{self.num_timesteps}_steps.zip"
            self.model.save(path)
            if self.verbose:
                print(f"Saving model checkpoint to {path}")
        return True


class ProgressBarCallback(BaseCallback):
    """A tqdm progress bar over timesteps (extra ``progress``)."""

    def __init__(self) -> None:
        super().__init__()
        try:
            from tqdm.auto import tqdm
        except ImportError as e:
            raise ImportError('progress_bar=True needs tqdm: pip install "rlsuite[progress]"') from e
        self._tqdm = tqdm
        self.bar: Any = None

    def _on_training_start(self) -> None:
        assert self.model is not None
        total = self.locals["total_timesteps"] - self.model.num_timesteps
        self.bar = self._tqdm(total=total, unit="steps", dynamic_ncols=True)

    def _on_step(self) -> bool:
        assert self.model is not None
        self.bar.update(self.model.n_envs)
        return True

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.close()


class EpisodeRecorder(BaseCallback):
    """Records every finished training episode: ``timesteps`` (the model's step count when it ended),
    ``returns`` (the unshaped return: ``info["original_reward"]`` under :mod:`rlsuite.shaping`, else
    the env's reward) and ``lengths``; on-policy agents (PPO, BPO, PDPPO). Learning curves without a
    logger::

        rec = EpisodeRecorder()
        PPO("MlpPolicy", env).learn(50_000, callback=rec)
        plt.plot(rec.timesteps, rec.returns)
    """

    def __init__(self, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.timesteps: list[int] = []
        self.returns: list[float] = []
        self.lengths: list[int] = []

    def _on_step(self) -> bool:
        for ret, length in getattr(self.model, "step_episodes", ()):
            assert self.model is not None  # it has step_episodes
            self.timesteps.append(int(self.model.num_timesteps))
            self.returns.append(ret)
            self.lengths.append(length)
        return True
