"""Label image–text pairs with regions, as the paper makes its data.

    python tools/dataset_converters/pseudo_label.py INPUT --out-dir DIR \
        --detector owlvit --model DIR_OR_NAME
    bash tools/dataset_converters/dist_pseudo_label.sh NPROC INPUT --out-dir DIR ...   (torchrun)
    bash tools/dataset_converters/slurm_pseudo_label.sh PARTITION JOB INPUT \
        --out-dir DIR ...                                                             (srun)

An open-vocabulary detector looks for the caption's n-grams (and
``--categories``) in each image; boxes scoring ≥ ``--score-thr`` become the
image's regions. ``INPUT`` is img2dataset / WebDataset tar shards (a path,
glob, brace pattern ``pairs-{000000..000999}.tar`` or fsspec URL; caption from
``{key}.txt`` or the ``caption``/``text`` of ``{key}.json``), a JSONL of
``{"image", "caption"}`` records or a COCO captions ``.json`` (both with
``--image-root``).

``--out-dir DIR`` writes one training shard per input shard (JSONL / COCO
input: per ``--samples-per-shard`` pairs), ``DIR/NAME.tar`` in the layout
``ShardedTarDataset`` reads (image bytes unchanged, ``{key}.json`` =
``{"caption", "regions": [{"bbox": [x1, y1, x2, y2], "text", "score"}],
"width", "height"}``), each written to a temporary file and renamed when
complete, then recorded in ``DIR/manifest/NAME.json``; ``DIR/manifest.json``
sums them up at the end. Rerun the same command to resume: finished shards are
skipped, unfinished ones redone. Rank r of W labels units r, r + W, ...;
DataLoader workers (``--num-workers``) read, decode and shrink the images to
the detector's input size; on CUDA the detector runs under bfloat16 autocast
(``--no-amp`` turns it off). ``--out OUT.jsonl`` instead writes one JSONL
(one process), the format ``JsonlDataset`` reads.

Detectors: ``--detector owlvit --model DIR_OR_HUB_NAME`` (OWL-ViT or OWLv2,
HuggingFace transformers) or ``--detector mmdet --config CFG --checkpoint CKPT``
(an mmdet GroundingDINO/GLIP config). A missing or unreadable image, a
sample without a caption or image, an unsafe tar member, or an input shard that
cannot be read stops the run with an error naming it; ``--skip-invalid`` skips
and counts them (a failed input shard is reported and has no output, so a
rerun tries it again).

The command line and the labelling loop around the detector are
:mod:`locca_mm.cli.pseudo_label`'s (the benchmark runs it in its own process).
"""
from locca_mm.cli import run_cli
from locca_mm.cli.pseudo_label import main

if __name__ == '__main__':
    run_cli(main)
