"""Denoising score-matching training: periodic targets, data, trainer and checkpoints.

Units: positions and sigma in Å, scores in Å^-1, lattices as row vectors.
"""

from chggen_kernels.training.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    CheckpointError,
    CheckpointMetadata,
    checkpoint_metadata,
    load_score_model,
    read_checkpoint,
    save_checkpoint,
    update_checkpoint_metadata,
)
from chggen_kernels.training.data import (
    MIN_INTERATOMIC_DISTANCE,
    SkippedCrystal,
    TrainingCrystal,
    TrainingData,
    TrainingDataError,
    dataset_hash,
    load_training_data,
    validate_crystal,
)
from chggen_kernels.training.parquet import (
    TRAINING_COLUMNS,
    read_training_parquet,
    training_schema,
    write_training_parquet,
)
from chggen_kernels.training.settings import TrainSettings, sigma_bin_edges, sigma_bin_labels
from chggen_kernels.training.targets import (
    NoisyBatch,
    dsm_loss_per_crystal,
    minimum_image,
    minimum_image_score,
    periodic_score,
    perturb,
    sample_log_uniform_sigmas,
)
from chggen_kernels.training.trainer import StepResult, Trainer, ValidationResult, split_train_val

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "MIN_INTERATOMIC_DISTANCE",
    "TRAINING_COLUMNS",
    "CheckpointError",
    "CheckpointMetadata",
    "NoisyBatch",
    "SkippedCrystal",
    "StepResult",
    "TrainSettings",
    "Trainer",
    "TrainingCrystal",
    "TrainingData",
    "TrainingDataError",
    "ValidationResult",
    "checkpoint_metadata",
    "dataset_hash",
    "dsm_loss_per_crystal",
    "load_score_model",
    "load_training_data",
    "minimum_image",
    "minimum_image_score",
    "periodic_score",
    "perturb",
    "read_checkpoint",
    "read_training_parquet",
    "sample_log_uniform_sigmas",
    "save_checkpoint",
    "sigma_bin_edges",
    "sigma_bin_labels",
    "split_train_val",
    "training_schema",
    "update_checkpoint_metadata",
    "validate_crystal",
    "write_training_parquet",
]
