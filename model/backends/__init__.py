"""Ways to run a model folder: ONNX Runtime (serving, export, fusion), PyTorch, and the linear n-gram model."""
