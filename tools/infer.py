"""Predict on images and draw what the model says.

    python tools/infer.py IMAGE_OR_DIR [IMAGE_OR_DIR ...] CONFIG CKPT \
        --task cap|ref|gcap|detect|detect_seq|vqa|feature \
        [--text "the dog on the left" ...] [--box x1,y1,x2,y2 ...] --out-dir DIR

Writes DIR/vis/<image>.png (the image with boxes and text) and
DIR/predictions.json (one entry per prediction; boxes in original-image pixels).
``--task feature`` writes the encoder's tokens (``--pooled``: one vector) of
each image to DIR/features/<image>.npy instead, and prints their shapes.

``--text`` / ``--box`` may be repeated: one value is used for every image;
as many values as images pair up in order; several values for one image ask
about that image several times. The command line is :mod:`locca_mm.cli.infer`'s.
"""
from locca_mm.cli import run_cli
from locca_mm.cli.infer import main

if __name__ == '__main__':
    run_cli(main)
