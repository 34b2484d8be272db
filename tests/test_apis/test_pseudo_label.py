"""Pseudo-labelling: queries, detectors (a tiny random OWL-ViT), filtering, pairs, the CLI."""
import json
import os
import os.path as osp

import numpy as np
import pytest

from locca_mm.cli import SetupError
from locca_mm.cli.bench.pseudo_label_rates import write_clip_tokenizer_files
from locca_mm.cli.pseudo_label import main as pseudo_label_main
from locca_mm.labeling import (
    Detections,
    MMDetGroundingDetector,
    OpenVocabDetector,
    PseudoLabeler,
    extract_queries,
    read_pairs,
)
from tests.conftest import run_tool

CAPTIONS = ['A brown dog runs on the green grass.', 'red car under a blue sky', 'two cats']


# --------------------------------------------------------------------------- queries

def test_queries_drop_stopword_edges_keep_order():
    assert extract_queries(CAPTIONS[0]) == [
        'brown', 'brown dog', 'brown dog runs', 'dog', 'dog runs', 'runs', 'green',
        'green grass', 'grass'
    ]
    # Only the edges matter: a stop word inside an n-gram is fine.
    assert extract_queries('a 3d model of 1990s cars') == [
        '3d', '3d model', 'model', 'model of 1990s', '1990s', '1990s cars', 'cars'
    ]
    assert extract_queries('it is on the') == []
    assert extract_queries('brown dog runs', max_n=1) == ['brown', 'dog', 'runs']


def test_queries_punctuation_numbers_duplicates():
    # Punctuation ends a phrase; pure numbers go; repeats keep their first place.
    assert extract_queries('2 dogs, 2 cats; dogs! 1-2') == ['2 dogs', 'dogs', '2 cats', 'cats']
    assert extract_queries("The dog's 'red' ball \u2014 well-worn") == [
        "dog's", "dog's red", "dog's red ball", 'red', 'red ball', 'ball', 'well-worn'
    ]


def test_queries_categories_and_truncation():
    categories = ['Dog', 'CAT', '  traffic   light ', '']
    assert extract_queries('a cat', categories=categories) == ['cat', 'dog', 'traffic light']
    assert extract_queries('a cat', categories=categories, max_queries=2) == ['cat', 'dog']
    assert extract_queries('a cat', stopwords=['cat']) == ['a']


# --------------------------------------------------------------------------- filtering

class FixedDetector(OpenVocabDetector):
    """Returns the same detections for every image."""

    def __init__(self, detections: Detections):
        self.detections = detections
        self.queries = None

    def detect(self, images, queries):
        self.queries = queries
        return [self.detections for _ in images]


def _fixed_labeler(**kwargs) -> PseudoLabeler:
    boxes = np.array([
        [0, 0, 20, 20],      # A 0.9
        [1, 1, 21, 21],      # B 0.8: IoU 0.82 with A
        [30, 30, 60, 60],    # C 0.5: clipped to the 50 x 40 image
        [10, 10, 10.5, 30],  # D 0.95: half a pixel wide
        [5, 5, 15, 15],      # E 0.2: below the threshold
        [-5, 0, 0.5, 10],    # F 0.7: half a pixel wide once clipped
    ], np.float32)
    scores = np.array([0.9, 0.8, 0.5, 0.95, 0.2, 0.7], np.float32)
    labels = np.array([0, 1, 2, 0, 0, 1])
    return PseudoLabeler(FixedDetector(Detections(boxes, scores, labels)), **kwargs)


def test_threshold_clip_slivers_nms():
    labeler = _fixed_labeler()
    image = np.zeros((40, 50, 3), np.uint8)
    regions = labeler.label([image], ['brown dog runs'])[0]
    assert labeler.detector.queries == [['brown', 'brown dog', 'brown dog runs', 'dog',
                                         'dog runs', 'runs']]
    assert regions == [
        {'bbox': [0.0, 0.0, 20.0, 20.0], 'text': 'brown', 'score': 0.9},
        {'bbox': [30.0, 30.0, 50.0, 40.0], 'text': 'brown dog runs', 'score': 0.5},
    ]
    no_nms = _fixed_labeler(nms_iou=1.0).label([image], ['brown dog runs'])[0]
    assert [r['score'] for r in no_nms] == [0.9, 0.8, 0.5]
    assert _fixed_labeler(max_regions=1).label([image], ['brown dog runs'])[0] == regions[:1]
    assert _fixed_labeler(score_thr=0.91).label([image], ['brown dog runs']) == [[]]


# --------------------------------------------------------------------------- tiny OWL-ViT

def _save_tiny_owl(directory: str, version: int = 1) -> str:
    """A randomly initialised OWL-ViT (or OWLv2) saved like a hub checkpoint."""
    transformers = pytest.importorskip('transformers')
    import torch

    words = {w.strip('.') for c in CAPTIONS for w in c.lower().split()}
    vocab = write_clip_tokenizer_files(directory, sorted(words))
    tokenizer = transformers.CLIPTokenizer(
        osp.join(directory, 'vocab.json'), osp.join(directory, 'merges.txt'), model_max_length=16)
    eot = vocab['<|endoftext|>']
    text = dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=16,
                bos_token_id=vocab['<|startoftext|>'], eos_token_id=eot, pad_token_id=eot)
    vision = dict(image_size=64, patch_size=16, hidden_size=32, intermediate_size=64,
                  num_hidden_layers=1, num_attention_heads=2)
    torch.manual_seed(0)
    if version == 1:
        config = transformers.OwlViTConfig(text_config=text, vision_config=vision,
                                           projection_dim=32)
        model = transformers.OwlViTForObjectDetection(config)
        images = transformers.OwlViTImageProcessor(size=64, crop_size=64)
        processor = transformers.OwlViTProcessor(image_processor=images, tokenizer=tokenizer)
    else:
        config = transformers.Owlv2Config(text_config=text, vision_config=vision,
                                          projection_dim=32)
        model = transformers.Owlv2ForObjectDetection(config)
        images = transformers.Owlv2ImageProcessor(size={'height': 64, 'width': 64})
        processor = transformers.Owlv2Processor(image_processor=images, tokenizer=tokenizer)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


@pytest.fixture(scope='module')
def owlvit_dir(tmp_path_factory) -> str:
    return _save_tiny_owl(str(tmp_path_factory.mktemp('owlvit')))


@pytest.fixture(scope='module')
def owlvit(owlvit_dir):
    from locca_mm.labeling import OwlViTDetector
    return OwlViTDetector(owlvit_dir)


def _images(seed: int = 0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(48, 64), (80, 60),
                                                                           (64, 64)]]


def test_owlvit_labeler_regions(owlvit):
    images = _images()
    labeler = PseudoLabeler(owlvit, score_thr=0.0, max_regions=5)
    results = labeler.label(images, CAPTIONS)
    assert len(results) == 3
    for image, caption, regions in zip(images, CAPTIONS, results):
        height, width = image.shape[:2]
        queries = labeler.queries(caption)
        assert 0 < len(regions) <= 5
        scores = [r['score'] for r in regions]
        assert scores == sorted(scores, reverse=True)
        for region in regions:
            assert set(region) == {'bbox', 'text', 'score'}
            x1, y1, x2, y2 = region['bbox']
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
            assert 0 <= region['score'] <= 1
            assert region['text'] in queries
    # The random model is not sure of anything; a threshold above its best score keeps nothing.
    best = max(r['score'] for regions in results for r in regions)
    labeler.score_thr = best + 1e-3
    assert labeler.label(images, CAPTIONS) == [[], [], []]


def test_owlvit_batch_matches_single_images(owlvit):
    """Query lists padded to the longest in a batch never change an image's result."""
    images = _images(1)[:2]
    queries = [extract_queries(CAPTIONS[0]), ['car']]
    batched = owlvit.detect(images, queries)
    for image, image_queries, together in zip(images, queries, batched):
        alone = owlvit.detect([image], [image_queries])[0]
        assert (together.labels < len(image_queries)).all()
        np.testing.assert_array_equal(together.labels, alone.labels)
        np.testing.assert_allclose(together.scores, alone.scores, atol=1e-5)
        np.testing.assert_allclose(together.boxes, alone.boxes, atol=1e-3)
    assert [len(d.scores) for d in owlvit.detect(images, [[], []])] == [0, 0]


def test_owlvit_directory_without_config(tmp_path):
    pytest.importorskip('transformers')
    from locca_mm.labeling import OwlViTDetector
    with pytest.raises(ValueError, match='has no config.json'):
        OwlViTDetector(str(tmp_path))


@pytest.mark.parametrize('version', [1, 2])
def test_owl_boxes_match_transformers_postprocess(tmp_path, version):
    """Boxes in original pixels; OWLv2's are fractions of the padded square."""
    import torch

    from locca_mm.labeling import OwlViTDetector
    detector = OwlViTDetector(_save_tiny_owl(str(tmp_path), version))
    assert type(detector.model).__name__ == ('OwlViTForObjectDetection' if version == 1
                                            else 'Owlv2ForObjectDetection')
    image = _images(2)[1]  # 80 x 60, not square
    queries = ['red car', 'sky', 'blue']
    ours = detector.detect([image], [queries])[0]
    inputs = detector.processor(text=[queries], images=[image], return_tensors='pt')
    with torch.no_grad():
        outputs = detector.model(**inputs)
    size = max(image.shape[:2]) if version == 2 else None
    target = (size, size) if version == 2 else image.shape[:2]
    theirs = detector.processor.image_processor.post_process_object_detection(
        outputs, threshold=-1.0, target_sizes=[target])[0]
    np.testing.assert_allclose(ours.boxes, theirs['boxes'].numpy(), atol=1e-3)
    np.testing.assert_allclose(ours.scores, theirs['scores'].numpy(), atol=1e-5)
    np.testing.assert_array_equal(ours.labels, theirs['labels'].numpy())


# --------------------------------------------------------------------------- mmdet

def test_grounding_prompt_splits_back_into_queries():
    queries = ['brown dog', 'st. bernard', 'grass']
    prompt = MMDetGroundingDetector._prompt(queries)
    assert prompt == 'brown dog . st bernard . grass'
    # How mmdet's GroundingDINO/GLIP cut a custom_entities prompt into entities.
    entities = [e.strip() for e in prompt.strip('. ').split('. ') if e]
    assert entities == ['brown dog', 'st bernard', 'grass']


@pytest.mark.skipif(
    not (osp.isfile(os.environ.get('LOCCA_GDINO_CONFIG', ''))
         and osp.isfile(os.environ.get('LOCCA_GDINO_CKPT', ''))),
    reason='needs LOCCA_GDINO_CONFIG and LOCCA_GDINO_CKPT (GroundingDINO config and weights)')
def test_mmdet_grounding_detector():
    detector = MMDetGroundingDetector(os.environ['LOCCA_GDINO_CONFIG'],
                                      os.environ['LOCCA_GDINO_CKPT'])
    images = _images()[:2]
    queries = [['dog', 'grass'], ['car']]
    results = detector.detect(images, queries)
    for image, image_queries, det in zip(images, queries, results):
        assert det.boxes.shape == (len(det.scores), 4)
        height, width = image.shape[:2]
        assert (det.boxes >= -1).all() and (det.boxes[:, 0::2] <= width + 1).all() \
            and (det.boxes[:, 1::2] <= height + 1).all()
        assert (det.labels < len(image_queries)).all()
        assert ((det.scores >= 0) & (det.scores <= 1)).all()
    regions = PseudoLabeler(detector, score_thr=0.0).label(images, ['dog on grass', 'car'])
    assert len(regions) == 2


# --------------------------------------------------------------------------- pairs

def test_read_pairs_coco_captions_first_caption(tmp_path):
    coco = {
        'images': [{'id': 7, 'file_name': 'a.jpg'}, {'id': 3, 'file_name': 'b.jpg'},
                   {'id': 9, 'file_name': 'nocap.jpg'}],
        'annotations': [{'id': 1, 'image_id': 3, 'caption': 'b first'},
                        {'id': 2, 'image_id': 7, 'caption': 'a first'},
                        {'id': 3, 'image_id': 7, 'caption': 'a second'}],
    }
    path = tmp_path / 'captions.json'
    path.write_text(json.dumps(coco))
    with pytest.warns(UserWarning, match='1 images without a caption'):
        pairs = list(read_pairs(str(path)))
    assert pairs == [('a.jpg', 'a first', f'{path}:images[0]'),
                     ('b.jpg', 'b first', f'{path}:images[1]')]

    path.write_text(json.dumps({'images': [{'id': 1}], 'annotations': []}))
    with pytest.raises(ValueError, match=r'captions.json:images\[0\].*file_name'):
        list(read_pairs(str(path)))


def test_read_pairs_jsonl_errors_name_the_line(tmp_path):
    path = tmp_path / 'pairs.jsonl'
    good = {'image': 'x.png', 'caption': 'a dog', 'regions': [{'bbox': [0, 0, 1, 1]}]}
    path.write_text(json.dumps(good) + '\n\n' + '{"image": "y.png", "caption": \n')
    pairs = read_pairs(str(path))
    assert next(pairs) == ('x.png', 'a dog', f'{path}:1')
    with pytest.raises(ValueError, match=r'pairs.jsonl:3: not valid JSON'):
        next(pairs)
    path.write_text(json.dumps(good) + '\n' + json.dumps({'caption': 'no image'}) + '\n')
    with pytest.raises(ValueError, match=r'pairs.jsonl:2: "image" must be a non-empty string'):
        list(read_pairs(str(path)))


# --------------------------------------------------------------------------- CLI

def _write_pairs(tmp_path, missing: bool = False) -> str:
    from PIL import Image

    root = tmp_path / 'images'
    (root / 'sub').mkdir(parents=True)
    names = ['sub/one.png', 'two.png', 'three.png']
    for name, image in zip(names, _images()):
        Image.fromarray(image).save(root / name)
    if missing:
        os.remove(root / names[1])
    pairs = tmp_path / 'pairs.jsonl'
    pairs.write_text(''.join(json.dumps({'image': n, 'caption': c}) + '\n'
                             for n, c in zip(names, CAPTIONS)))
    return str(pairs)


def _cli_args(tmp_path, pairs, owlvit_dir, *extra):
    return ['dataset_converters/pseudo_label.py', pairs, '--image-root', str(tmp_path / 'images'),
            '--out', str(tmp_path / 'out' / 'labels.jsonl'), '--detector', 'owlvit',
            '--model', owlvit_dir, '--score-thr', '0', '--batch-size', '2', '--max-regions', '4',
            *extra]


@pytest.mark.slow
def test_cli_missing_image_is_an_error(tmp_path, owlvit_dir):
    """Found before the detector loads; no output is written."""
    pairs = _write_pairs(tmp_path, missing=True)
    proc = run_tool(_cli_args(tmp_path, pairs, owlvit_dir))
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if 'error:' in line]
    assert len(errors) == 1, proc.stderr[-2000:]
    assert 'two.png' in errors[0] and 'pairs.jsonl:2' in errors[0]
    assert not (tmp_path / 'out').exists()


@pytest.mark.slow
def test_cli_skip_invalid_writes_jsonl(tmp_path, owlvit_dir):
    pairs = _write_pairs(tmp_path, missing=True)
    proc = run_tool(_cli_args(tmp_path, pairs, owlvit_dir, '--skip-invalid',
                              '--categories', 'Car,person'))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '2 images, 8 regions (4.00 per image), 1 skipped' in proc.stdout
    out = tmp_path / 'out' / 'labels.jsonl'
    assert not osp.exists(str(out) + '.tmp')
    lines = out.read_text().splitlines()
    assert len(lines) == 2
    images = _images()
    for line, name, caption, image in zip(lines, ['sub/one.png', 'three.png'],
                                          CAPTIONS[::2], images[::2]):
        record = json.loads(line)
        assert list(record) == ['image', 'caption', 'regions']
        assert (record['image'], record['caption']) == (name, caption)
        queries = extract_queries(caption, categories=['car', 'person'])
        height, width = image.shape[:2]
        assert len(record['regions']) == 4
        for region in record['regions']:
            assert list(region) == ['bbox', 'text', 'score']
            assert all(isinstance(v, float) and round(v, 2) == v for v in region['bbox'])
            x1, y1, x2, y2 = region['bbox']
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
            score = region['score']
            assert isinstance(score, float) and round(score, 4) == score and 0 <= score <= 1
            assert region['text'] in queries


def test_cli_unreadable_image(tmp_path, owlvit_dir):
    """A file that is there but does not decode is found while labelling (in-process run of
    what the tool runs)."""
    pairs = _write_pairs(tmp_path)
    (tmp_path / 'images' / 'three.png').write_bytes(b'not a png')
    args = _cli_args(tmp_path, pairs, owlvit_dir)[1:]
    with pytest.raises(SetupError, match=r'three.png.*pairs.jsonl:3'):
        pseudo_label_main(args)
    assert not (tmp_path / 'out' / 'labels.jsonl').exists()
    assert not (tmp_path / 'out' / 'labels.jsonl.tmp').exists()
    assert pseudo_label_main(args + ['--skip-invalid', '--limit', '3']) == (2, 8, 1)
    assert pseudo_label_main(args + ['--limit', '1']) == (1, 4, 0)
