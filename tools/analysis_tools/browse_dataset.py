"""Pictures of a config's data: each sample with its boxes, texts and task sequences.

    python tools/analysis_tools/browse_dataset.py CONFIG --output-dir DIR [--phase train] [--num 16]

The image is drawn as the pipeline delivers it (after resizing, flipping, ...),
so the boxes are those the model is trained on; the panel lists the caption
and the task sequences decoded back through the tokenizer.
"""
import argparse
import os
import os.path as osp

from mmengine.config import DictAction

from locca_mm.cli import build_phase_dataset, load_config, run_cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Draw samples of a dataset')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--output-dir', required=True, help='where the pictures go')
    parser.add_argument('--phase', choices=['train', 'val', 'test'], default='train')
    parser.add_argument('--num', type=int, default=16, help='number of samples')
    parser.add_argument('--scale', type=float, default=4.0,
                        help='enlarge small images by this factor')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    from locca_mm.visualization import LocCaVisualizer
    dataset = build_phase_dataset(cfg, args.config, args.phase)
    tokenizer = None
    if cfg.get('model', {}).get('tokenizer') is not None:
        from locca_mm.tokenizers import build_tokenizer
        tokenizer = build_tokenizer(cfg.model.tokenizer)
    visualizer = LocCaVisualizer(name='browse')
    os.makedirs(args.output_dir, exist_ok=True)
    import cv2
    import mmcv
    for i in range(min(args.num, len(dataset))):
        item = dataset[i]
        sample = item['data_samples']
        image = item['inputs'].permute(1, 2, 0).numpy()[..., ::-1].copy()  # BGR -> RGB
        if args.scale != 1:
            h, w = image.shape[:2]
            image = cv2.resize(image, (int(w * args.scale), int(h * args.scale)),
                               interpolation=cv2.INTER_NEAREST)
            if 'gt_instances' in sample:
                sample.gt_instances.bboxes = sample.gt_instances.bboxes * args.scale
        drawn = visualizer.draw_sample(image, sample, tokenizer=tokenizer, gt_frame='input')
        mmcv.imwrite(drawn[..., ::-1], osp.join(args.output_dir, f'{i:05d}.png'))
    print(f'wrote {min(args.num, len(dataset))} pictures to {args.output_dir}')


if __name__ == '__main__':
    run_cli(main)
