"""What ``tools/infer.py`` runs: a model's predictions on images (:func:`main` takes the
tool's command line and returns the predictions; the tool's docstring says what it writes).
"""
import argparse
import json
import os
import os.path as osp

from .common import SetupError, load_config

TASKS = ['cap', 'ref', 'gcap', 'detect', 'detect_seq', 'vqa', 'feature']


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Run a locca_mm model on images')
    parser.add_argument('inputs', nargs='+', help='image files and/or directories of images')
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--task', choices=TASKS, default='cap')
    parser.add_argument('--text', action='append',
                        help='the referring expression (--task ref) or the question (--task vqa, '
                        'a model fine-tuned for VQA); repeat to pair with images')
    parser.add_argument('--box', action='append',
                        help='x1,y1,x2,y2 in image pixels (--task gcap); repeat to pair with '
                        'images')
    parser.add_argument('--pooled', action='store_true',
                        help='--task feature: one vector per image (the MAP pooler or the '
                        'mean of the tokens) instead of the tokens')
    parser.add_argument('--out-dir', default='work_dirs/infer', help='pictures and JSON go here')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--num-beams', type=int, default=None,
                        help='beam width (detect: the number of boxes proposed)')
    sampling = parser.add_argument_group(
        'generation controls', 'cap, ref, gcap and vqa; transformers\' semantics '
        '(docs/en/user_guides/inference.md)')
    sampling.add_argument('--do-sample', action='store_true',
                          help='draw each token instead of taking the most likely')
    sampling.add_argument('--temperature', type=float, default=None,
                          help='divides the logits before sampling (0: greedy)')
    sampling.add_argument('--top-k', type=int, default=None,
                          help='sample among the k most likely tokens (0: all)')
    sampling.add_argument('--top-p', type=float, default=None,
                          help='sample among the most likely tokens whose probabilities '
                          'reach p (1: all)')
    sampling.add_argument('--seed', type=int, default=None,
                          help='seed of the draws: the same seed, the same samples')
    sampling.add_argument('--repetition-penalty', type=float, default=None,
                          help='> 1 discourages tokens already in the sequence (1: none)')
    sampling.add_argument('--no-repeat-ngram-size', type=int, default=None,
                          help='never repeat an n-gram of this size (0: off)')
    parser.add_argument('--show', action='store_true', help='also show each picture')
    parser.add_argument('--device', default=None, help='e.g. cpu or cuda:0')
    return parser.parse_args(argv)


def generation_controls(args) -> dict:
    """The generation controls given on the command line (checked), as inferencer keywords.

    Raises:
        SetupError: a value out of range, or controls with a task they do not apply to.
    """
    from locca_mm.models.decoding import GenerationControls
    given = {k: getattr(args, k) for k in ('temperature', 'top_k', 'top_p', 'seed',
                                           'repetition_penalty', 'no_repeat_ngram_size')
             if getattr(args, k) is not None}
    if args.do_sample:
        given['do_sample'] = True
    if given and args.task not in ('cap', 'ref', 'gcap', 'vqa'):
        raise SetupError(f'--{", --".join(k.replace("_", "-") for k in given)} apply to '
                         f'--task cap, ref, gcap and vqa, not {args.task}')
    try:
        GenerationControls(**given)
    except ValueError as e:  # 'top_p must be ...' -> '--top-p must be ...'
        name, rest = str(e).split(' ', 1)
        raise SetupError(f'--{name.replace("_", "-")} {rest}') from None
    return given


def expand_inputs(inputs):
    """Image files, and the images of directories (sorted), in the order given."""
    from locca_mm.apis.inputs import IMAGE_EXTS
    images = []
    for x in inputs:
        if osp.isdir(x):
            files = sorted(f for f in os.listdir(x) if f.lower().endswith(IMAGE_EXTS))
            if not files:
                raise SetupError(f'no images ({", ".join(IMAGE_EXTS)}) in {x}')
            images += [osp.join(x, f) for f in files]
        elif osp.exists(x):
            images.append(x)
        else:
            raise SetupError(f'no such image or directory: {x}')
    return images


def pair(images, values, flag):
    """(images, values) of equal length: one value for all, one per image, or many for one."""
    if not values or len(values) == 1:
        return images, (values[0] if values else None)
    if len(values) == len(images):
        return images, list(values)
    if len(images) == 1:
        return images * len(values), list(values)
    raise SetupError(f'{len(values)} {flag} values for {len(images)} images: give one (used for '
                     f'every image), one per image, or several for a single image')


def save_features(features, images, out_dir):
    """DIR/features/<image>.npy per image; the index in DIR/predictions.json."""
    import numpy as np

    from locca_mm.apis.inputs import output_names
    feature_dir = osp.join(out_dir, 'features')
    os.makedirs(feature_dir, exist_ok=True)
    index = []
    for image, name, feature in zip(images, output_names(images), features):
        path = osp.join(feature_dir, f'{name}.npy')
        np.save(path, feature.numpy())
        index.append(dict(image=image, task='feature', shape=list(feature.shape), file=path))
    with open(osp.join(out_dir, 'predictions.json'), 'w', encoding='utf-8') as f:
        json.dump(index, f, indent=1)
    return index


def main(argv=None):
    """Run the tool; returns the predictions (JSON-ready dicts, one per image or pair)."""
    args = parse_args(argv)
    from locca_mm.apis import FeatureInferencer, LocCaInferencer, parse_box
    if args.task in ('ref', 'vqa') and not (args.text and all(t and t.strip() for t in args.text)):
        what = 'the referring expression' if args.task == 'ref' else 'the question'
        raise SetupError(f'--task {args.task} needs {what}: --text "..."')
    boxes = None
    if args.task == 'gcap':
        if not args.box:
            raise SetupError('--task gcap needs a box: --box x1,y1,x2,y2')
        try:
            boxes = [parse_box(b) for b in args.box]
        except ValueError as e:
            raise SetupError(str(e)) from None
    if args.batch_size < 1:
        raise SetupError(f'--batch-size must be >= 1, got {args.batch_size}')
    controls = generation_controls(args)
    images = expand_inputs(args.inputs)
    text = None
    if args.task in ('ref', 'vqa'):
        images, text = pair(images, args.text, '--text')
    if args.task == 'gcap':
        images, boxes = pair(images, boxes, '--box')
    if not osp.isfile(args.checkpoint):
        raise SetupError(f'checkpoint file not found: {args.checkpoint}')
    cfg = load_config(args.config)
    if args.num_beams:
        cfg.model.setdefault('test_cfg', {})['num_beams'] = args.num_beams
    from locca_mm.compat.checkpoint_io import CheckpointLoadError
    pred_file = osp.join(args.out_dir, 'predictions.json')
    try:
        if args.task == 'feature':
            inferencer = FeatureInferencer(cfg, args.checkpoint, device=args.device)
            features = inferencer(images, batch_size=args.batch_size, pooled=args.pooled)
            preds = save_features(features, images, args.out_dir)
        else:
            inferencer = LocCaInferencer(cfg, args.checkpoint, device=args.device)
            preds = inferencer(images, task=args.task, text=text, box=boxes,
                               batch_size=args.batch_size, out_dir=args.out_dir,
                               show=args.show, pred_out_file=pred_file,
                               **controls)['predictions']
    except (ValueError, FileNotFoundError, OSError, CheckpointLoadError) as e:
        raise SetupError(str(e).splitlines()[0]) from None
    print_predictions(preds, args.task, args.out_dir, pred_file)
    return preds


def print_predictions(preds, task: str, out_dir: str, pred_file: str) -> None:
    """Each prediction (``feature``: each file's shape), then where they were written."""
    if task == 'feature':
        for pred in preds:
            print(f"{pred['image']}: {tuple(pred['shape'])} -> {pred['file']}")
        print(f'features in {osp.join(out_dir, "features")}, index in {pred_file}')
    else:
        for pred in preds:
            print(pred)
        print(f'pictures in {osp.join(out_dir, "vis")}, predictions in {pred_file}')

