"""Training package: datasets, protocols, metrics, training, model cards and Hub publishing."""
