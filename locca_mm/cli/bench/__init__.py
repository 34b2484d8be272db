"""The measurements of ``tools/benchmarks/`` (``benchmark.py``, ``gpu_check.py``,
``data_benchmark.py``, ``pseudo_label_benchmark.py``), by subject:

- :mod:`.common`: models with a synthetic vocabulary, batches, timing, FLOPs, precision;
- :mod:`.sections`: LocCa's and Cap's training step, decoding, REC evaluation, MFU,
  ``torch.compile``, the cost of validation;
- :mod:`.open_clip_coca`: open_clip's CoCa against ours;
- :mod:`.mask_rcnn`: a Mask R-CNN transfer step;
- :mod:`.data_rates`: the data pipeline's samples per second;
- :mod:`.pseudo_label_rates`: the pseudo-labelling tool's images per second.

The tools print what these write into one JSON object.
"""
