"""The model zoo: zoo.toml declarations, Keras twins, training, export, and the graph analyzer.

Only `build` (and the modules it imports lazily) needs TensorFlow; `config`, `analyze` and `commands`
work with the core dependencies.
"""
