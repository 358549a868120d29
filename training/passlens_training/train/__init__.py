"""Stage 3, the critic (`passlens-train train`): the value-head model, its training data,
and the trainer (TrainConfig documents every setting)."""
