"""Stage ``model``: the CNN genre classifiers on frame datasets.

:mod:`~spotidance.model.architectures` (the seeds' 1D and 2D CNNs), :mod:`~spotidance.model.split`
(track-level train/validation/test split), :mod:`~spotidance.model.train`,
:mod:`~spotidance.model.evaluate` (scoring, shared by train and ``spotidance evaluate``),
:mod:`~spotidance.model.runners` (LiteRT and Keras) and :mod:`~spotidance.model.bundle` (the model
folder; it imports the runners, never the other way round).
"""
