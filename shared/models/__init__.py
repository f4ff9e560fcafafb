"""Traditional models: the registry, admission before loading, training and loading."""
