"""The benchmark room: one module per `arc bench` subcommand, each printing its figures — `layer` (ARC layer vs
the plain conv), `reference` (the NumPy reference vs PyTorch), `train` (training throughput, data loading),
`memory` (peak memory of training, TSM against ARC-TSM)."""
