"""Neural Network Playground engine: pure Python + PyTorch, no UI.

    from playground import Experiment, Run
    exp = Experiment.from_dict({"data": {"name": "xor"}, "train": {"epochs": 50}})
    history = exp.fit()          # per-epoch DataFrame
"""
from .data import DataError
from .run import Run, Snapshot
from .spec import DataSpec, ExperimentSpec, LayerSpec, ModelSpec, SpecError, TrainSpec
from .train import Experiment, StepMetrics, TrainingDiverged

__all__ = ["Experiment", "Run", "Snapshot", "StepMetrics", "ExperimentSpec", "DataSpec", "ModelSpec",
           "LayerSpec", "TrainSpec", "SpecError", "DataError", "TrainingDiverged"]
