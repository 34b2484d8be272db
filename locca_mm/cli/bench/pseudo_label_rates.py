"""Pseudo-labelling throughput: ``python tools/benchmarks/benchmark.py --sections pseudo_label``
(and ``tools/benchmarks/pseudo_label_benchmark.py``).

Times ``tools/dataset_converters/pseudo_label.py --out-dir`` (:mod:`locca_mm.cli.pseudo_label`,
in this process) end to end (tar shards of 640 x 480 JPEGs in, training shards out: reading,
decoding and shrinking in 2 DataLoader workers, the detector, filtering, writing), with
randomly initialised OWL-ViT detectors built here (no download):

- ``tiny``: the test suite's size (width 32, one layer, 64 px);
- ``owlvit_b32_768``: OWL-ViT B/32 at its native 768 px (transformers'
  ``OwlViTConfig()`` defaults, the size of ``google/owlvit-base-patch32``).

and counts the forward FLOPs of OWL-ViT B/16 at 768 px (the paper's detector
size) per image with 16 queries, from which ``gpu_days_per_billion`` estimates
the labelling time of 1 B pairs on H100s at an assumed model FLOPs utilisation.
"""
import contextlib
import json
import os
import os.path as osp
import sys
import tempfile
import time
from typing import Dict

WORDS = ['a', 'dog', 'on', 'the', 'grass', 'red', 'car', 'blue', 'sky', 'two', 'cats', 'photo']
H100_BF16_TFLOPS = 989.0
ASSUMED_MFU = 0.3


def write_clip_tokenizer_files(directory: str, words) -> dict:
    """A CLIP BPE vocabulary (``vocab.json``, ``merges.txt``): every character, and each word
    of ``words`` as one token; returns the vocabulary."""
    vocab, merges = {}, []
    for c in "abcdefghijklmnopqrstuvwxyz0123456789'-":
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + '</w>', len(vocab))
    for word in words:
        parts, merged = list(word[:-1]) + [word[-1] + '</w>'], word[0]
        for part in parts[1:]:
            if f'{merged} {part}' not in merges:
                merges.append(f'{merged} {part}')
            merged += part
            vocab.setdefault(merged, len(vocab))
    # Last, as in CLIP: OWL-ViT treats a query whose first token id is 0 as padding.
    for special in ('<|startoftext|>', '<|endoftext|>'):
        vocab[special] = len(vocab)
    with open(osp.join(directory, 'vocab.json'), 'w', encoding='utf-8') as f:
        json.dump(vocab, f)
    with open(osp.join(directory, 'merges.txt'), 'w', encoding='utf-8') as f:
        f.write('#version: 0.2\n' + '\n'.join(merges) + '\n')
    return vocab


def save_random_owlvit(directory: str, size: str) -> str:
    """A randomly initialised OWL-ViT saved like a hub checkpoint: ``tiny``, ``b32`` or ``b16``."""
    import torch
    import transformers
    os.makedirs(directory, exist_ok=True)
    vocab = write_clip_tokenizer_files(directory, WORDS)
    tokenizer = transformers.CLIPTokenizer(osp.join(directory, 'vocab.json'),
                                           osp.join(directory, 'merges.txt'))
    eot = vocab['<|endoftext|>']
    text = dict(bos_token_id=vocab['<|startoftext|>'], eos_token_id=eot, pad_token_id=eot)
    vision = dict(patch_size=16) if size == 'b16' else {}
    image_size = 768
    if size == 'tiny':
        text.update(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                    num_hidden_layers=1, num_attention_heads=2)
        vision = dict(image_size=64, patch_size=16, hidden_size=32, intermediate_size=64,
                      num_hidden_layers=1, num_attention_heads=2)
        image_size = 64
    torch.manual_seed(0)
    config = transformers.OwlViTConfig(text_config=text, vision_config=vision,
                                       **({'projection_dim': 32} if size == 'tiny' else {}))
    transformers.OwlViTForObjectDetection(config).save_pretrained(directory)
    images = transformers.OwlViTImageProcessor(size=image_size, crop_size=image_size)
    transformers.OwlViTProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(
        directory)
    return directory


def _shards(folder: str, num_shards: int, per_shard: int) -> str:
    import cv2
    import numpy as np

    from locca_mm.datasets.web_shards import ShardWriter
    rng = np.random.default_rng(0)
    for s in range(num_shards):
        with ShardWriter(osp.join(folder, f'pairs-{s:06d}.tar')) as writer:
            for j in range(per_shard):
                image = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
                data = cv2.imencode('.jpg', cv2.GaussianBlur(image, (9, 9), 3))[1].tobytes()
                caption = ' '.join(rng.choice(WORDS, 8))
                writer.add(f'{s:04d}{j:04d}', data, 'jpg', dict(caption=caption))
            writer.commit()
    return osp.join(folder, f'pairs-{{000000..{num_shards - 1:06d}}}.tar')


def _images_per_s(label, pattern: str, model: str, out_dir: str) -> float:
    args = [pattern, '--out-dir', out_dir, '--detector', 'owlvit', '--model', model,
            '--batch-size', '8', '--num-workers', '2']
    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # the benchmark's stdout is its JSON
        totals, _ = label(args)
    return totals['images'] / (time.perf_counter() - start)


def owlvit_b16_gflops(root: str) -> float:
    """Forward GFLOPs of OWL-ViT B/16 at 768 px for one image with 16 queries."""
    import torch
    import transformers
    from torch.utils.flop_counter import FlopCounterMode
    config = transformers.OwlViTConfig(vision_config=dict(patch_size=16))
    model = transformers.OwlViTForObjectDetection(config).eval()
    ids = torch.randint(0, 1000, (16, 16))
    pixels = torch.randn(1, 3, 768, 768)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pixels)
    return counter.get_total_flops() / 1e9


def pseudo_label_rates(quick: bool) -> Dict[str, float]:
    """The section's JSON: images/s per CPU process per detector, FLOPs and the GPU estimate."""
    from ..pseudo_label import main as label
    # The tool autocasts the detector to bf16 on CUDA only; on a CPU it runs in fp32.
    out = dict(detector_precision='fp32 (CPU)')
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(osp.join(root, 'in'))
        pattern = _shards(osp.join(root, 'in'), 2, 4 if quick else 16)
        sizes = ('tiny', ) if quick else ('tiny', 'b32')
        for size in sizes:
            model = save_random_owlvit(osp.join(root, size), size)
            rate = _images_per_s(label, pattern, model, osp.join(root, f'out_{size}'))
            out[f'images_per_s_{"owlvit_b32_768" if size == "b32" else size}'] = round(rate, 3)
        if not quick:
            gflops = owlvit_b16_gflops(root)
            per_gpu = H100_BF16_TFLOPS * 1e3 * ASSUMED_MFU / gflops
            out.update(owlvit_b16_768_gflops_per_image=round(gflops, 1),
                       assumed_mfu=ASSUMED_MFU, h100_images_per_s_estimate=round(per_gpu),
                       gpu_days_per_billion=round(1e9 / per_gpu / 86400, 1))
    return out
