"""Stage 5, export (`passlens-train export`): ONNX graphs and the critic bundle the
extension runs."""
