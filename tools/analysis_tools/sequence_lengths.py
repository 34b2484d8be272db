"""Token lengths of a config's task sequences, uncut, and the max_length that fits them.

    python tools/analysis_tools/sequence_lengths.py CONFIG [--phase train] [--num 5000]
        [--percentile 99.5] [--cfg-options ...]

Runs the dataset's pipeline with the model's tokenizer and no length limit on ``--num``
samples (evenly spread over the dataset) and prints one JSON object: per task, the
percentiles (50, 90, 99, ``--percentile``, max) of the sequence length (prefix, text, box
and eos), the share of sequences the config's current ``max_length`` cuts, and the
suggested ``max_length`` (the chosen percentile, rounded up to a multiple of 8), with a line
to paste into the config. A suggestion above the decoder's ``max_len`` is flagged.
"""
import argparse
import json
import math

from mmengine.config import DictAction

from locca_mm.cli import SetupError, build_phase_dataset, load_config, run_cli

UNCUT = 1_000_000


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Task sequence lengths of a dataset')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--phase', choices=['train', 'val', 'test'], default='train')
    parser.add_argument('--num', type=int, default=5000, help='samples to measure')
    parser.add_argument('--percentile', type=float, default=99.5,
                        help='the percentile max_length should cover')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries')
    return parser.parse_args(argv)


def _sequence_builders(dataset):
    """Every BuildTaskSequences transform in a dataset (wrappers included)."""
    from locca_mm.datasets.transforms import BuildTaskSequences
    found = []
    for d in getattr(dataset, 'datasets', None) or [dataset]:
        for t in getattr(getattr(d, 'pipeline', None), 'transforms', []):
            if isinstance(t, BuildTaskSequences):
                found.append(t)
    return found


def percentile(values, q: float) -> float:
    """The q-th percentile (0-100) of ``values``, linear interpolation (numpy's default)."""
    import numpy as np
    return float(np.percentile(np.asarray(values, dtype=float), q))


def measure(dataset, num: int) -> dict:
    """Uncut sequence lengths per task of ``num`` samples spread over ``dataset``."""
    builders = _sequence_builders(dataset)
    if not builders:
        raise SetupError('the dataset pipeline has no BuildTaskSequences: nothing to measure')
    limits = {}
    for b in builders:
        limits.update(b.tokenizer.max_length)
        b.tokenizer.max_length = {t: UNCUT for t in b.tokenizer.max_length}
    n = min(num, len(dataset))
    step = len(dataset) / n
    lengths = {}
    for i in range(n):
        sample = dataset[int(i * step)]
        seqs = sample['data_samples'].task_sequences
        for task, seq in seqs.items():
            lengths.setdefault(task, []).append(len(seq.tokens))
    return dict(lengths=lengths, limits=limits, samples=n)


def report(measured: dict, q: float, decoder_max_len=None) -> dict:
    out = dict(samples=measured['samples'], percentile=q, tasks={})
    suggestion = {}
    for task, values in sorted(measured['lengths'].items()):
        limit = measured['limits'].get(task)
        want = int(math.ceil(percentile(values, q) / 8) * 8)
        suggestion[task] = want
        stats = {f'p{p:g}': percentile(values, p) for p in sorted({50, 90, 99, q})}
        out['tasks'][task] = dict(
            count=len(values), **stats, max=max(values), current_max_length=limit,
            cut_at_current=round(sum(v > limit for v in values) / len(values), 4),
            suggested_max_length=want)
        if decoder_max_len and want > decoder_max_len:
            out['tasks'][task]['warning'] = (f'above the decoder max_len={decoder_max_len}: '
                                             'raise model.head.decoder.max_len too')
    # The one tokenizer, changed for the model and the data alike.
    out['config_line'] = (f'tokenizer = dict(_base_.tokenizer, max_length={suggestion}); '
                          'model = dict(tokenizer=tokenizer); '
                          'train_dataloader = dict(dataset=dict(tokenizer=tokenizer))')
    return out


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    dataset = build_phase_dataset(cfg, args.config, args.phase)
    decoder = ((cfg.get('model') or {}).get('head') or {}).get('decoder') or {}
    print(json.dumps(report(measure(dataset, args.num), args.percentile,
                            decoder.get('max_len')), indent=1))


if __name__ == '__main__':
    run_cli(main)
