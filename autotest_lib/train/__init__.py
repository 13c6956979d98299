"""Training: PPO explorers, refiners and the champion, by composition over stable-baselines3.

``train(spec, work_dir)`` builds or continues one model and writes its bundle; ``TrainSpec`` says what to
train; ``sample_hyperparameters`` / ``perturb_hyperparameters`` draw from the declared search space.
"""

from autotest_lib.train.bundle import Bundle, load_model, verify_bundle, write_bundle
from autotest_lib.train.search_space import hyperparameter_diff, perturb_hyperparameters, sample_hyperparameters
from autotest_lib.train.spec import Role, TrainSpec, build_spec
from autotest_lib.train.trainer import RunLinearSchedule, TrainResult, make_vec_env, spec_hash, train

__all__ = [
    "Bundle",
    "Role",
    "RunLinearSchedule",
    "TrainResult",
    "TrainSpec",
    "build_spec",
    "hyperparameter_diff",
    "load_model",
    "make_vec_env",
    "perturb_hyperparameters",
    "sample_hyperparameters",
    "spec_hash",
    "train",
    "verify_bundle",
    "write_bundle",
]
