"""PassLens training: build forking-token rollout datasets, fine-tune a value-head
critic, evaluate it as outcome and process reward, and export it as a critic bundle."""

__version__ = "0.1.0"
