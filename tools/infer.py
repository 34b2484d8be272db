"""Predict on images and draw what the model says.

    python tools/infer.py IMAGE_OR_DIR CONFIG CKPT --task cap|ref|gcap|detect \
        [--text "the dog on the left"] [--box x1,y1,x2,y2] --out-dir DIR

Writes DIR/vis/<image>.png (the image with boxes and text) and
DIR/predictions.json (one entry per image; boxes in original-image pixels).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from locca_mm.utils.cli import SetupError, load_config, run_cli  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Run a locca_mm model on images')
    parser.add_argument('inputs', help='an image file or a directory of images')
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--task', choices=['cap', 'ref', 'gcap', 'detect'], default='cap')
    parser.add_argument('--text', help='the referring expression (--task ref)')
    parser.add_argument('--box', help='x1,y1,x2,y2 in image pixels (--task gcap)')
    parser.add_argument('--out-dir', default='work_dirs/infer', help='pictures and JSON go here')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--num-beams', type=int, default=None,
                        help='beam width (detect: the number of boxes proposed)')
    parser.add_argument('--device', default=None, help='e.g. cpu or cuda:0')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from locca_mm.apis import LocCaInferencer, parse_box
    if args.task == 'ref' and not (args.text and args.text.strip()):
        raise SetupError('--task ref needs the referring expression: --text "..."')
    box = None
    if args.task == 'gcap':
        if not args.box:
            raise SetupError('--task gcap needs a box: --box x1,y1,x2,y2')
        try:
            box = parse_box(args.box)
        except ValueError as e:
            raise SetupError(str(e)) from None
    if not osp.exists(args.inputs):
        raise SetupError(f'no such image or directory: {args.inputs}')
    if not osp.isfile(args.checkpoint):
        raise SetupError(f'checkpoint file not found: {args.checkpoint}')
    cfg = load_config(args.config)
    if args.num_beams:
        cfg.model.setdefault('test_cfg', {})['num_beams'] = args.num_beams
    try:
        inferencer = LocCaInferencer(cfg, args.checkpoint, device=args.device)
        result = inferencer(args.inputs, task=args.task, text=args.text, box=box,
                            batch_size=args.batch_size, out_dir=args.out_dir,
                            pred_out_file=osp.join(args.out_dir, 'predictions.json'))
    except (ValueError, FileNotFoundError, OSError) as e:
        raise SetupError(str(e).splitlines()[0]) from None
    for pred in result['predictions']:
        print(pred)
    print(f'pictures in {osp.join(args.out_dir, "vis")}, predictions in '
          f'{osp.join(args.out_dir, "predictions.json")}')


if __name__ == '__main__':
    run_cli(main)
