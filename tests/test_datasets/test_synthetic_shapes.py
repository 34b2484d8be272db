"""SyntheticShapes: deterministic, varied, and ambiguous often enough."""
import numpy as np
import pytest

from locca_mm.datasets import SyntheticShapes
from locca_mm.utils import register_all_modules
from tests.test_datasets.utils import TOKENIZER, eval_pipeline, train_pipeline

register_all_modules()


def test_deterministic_per_seed_and_index_and_varied():
    a = SyntheticShapes(num_samples=50, seed=3)
    b = SyntheticShapes(num_samples=50, seed=3)
    for i in (0, 7, 49):
        x, y = a.get_data_info(i), b.get_data_info(i)
        assert np.array_equal(x['img'], y['img']) and x['captions'] == y['captions']
        np.testing.assert_array_equal(x['regions']['bboxes'], y['regions']['bboxes'])
    imgs = [a.get_data_info(i)['img'] for i in range(20)]
    assert len({im.tobytes() for im in imgs}) == 20
    other = SyntheticShapes(num_samples=50, seed=4)
    assert not np.array_equal(a.get_data_info(0)['img'], other.get_data_info(0)['img'])


def test_boxes_match_drawn_pixels():
    ds = SyntheticShapes(num_samples=20, img_size=64)
    for i in range(20):
        info = ds.get_data_info(i)
        background = np.abs(info['img'].astype(int) - 70).max(-1) > 30
        for (x1, y1, x2, y2) in info['regions']['bboxes']:
            inside = background[int(y1) + 1:int(y2) - 1, int(x1) + 1:int(x2) - 1]
            assert inside.mean() > 0.3  # the shape covers its box
        assert background.sum() > 0


def test_regions_and_captions_name_the_objects():
    ds = SyntheticShapes(num_samples=100)
    duplicated = 0
    for i in range(100):
        info = ds.get_data_info(i)
        texts = info['regions']['texts']
        assert len(texts) == len(set(texts))  # every region text names one object
        duplicated += any(t.split()[0] in ('left', 'right', 'top', 'bottom') for t in texts)
        assert info['captions'][0].endswith('.')
    assert 30 <= duplicated <= 70  # duplicate_prob = 0.5


def test_referring_split_needs_location_often_enough():
    ds = SyntheticShapes(split='ref_val', num_samples=400)
    fraction = ds.ambiguous_fraction()
    assert fraction >= 0.3, fraction
    info = ds.get_data_info(0)
    assert info['ref_text'] == info['regions']['texts'][0]
    assert info['ref_text'].split()[-1] in ('circle', 'square', 'triangle')


def test_splits_are_disjoint_streams():
    train = SyntheticShapes(split='ref_train', num_samples=30)
    test = SyntheticShapes(split='ref_test', num_samples=30)
    assert all(not np.array_equal(train.get_data_info(i)['img'], test.get_data_info(i)['img'])
               for i in range(30))


def test_pipelines_for_pretraining_and_referring():
    pre = SyntheticShapes(num_samples=4, pipeline=train_pipeline(flip=0.5), tokenizer=TOKENIZER)
    sample = pre[0]['data_samples']
    assert set(sample.task_sequences) == {'cap', 'aref', 'gcap'}
    ref = SyntheticShapes(split='ref_test', num_samples=4, pipeline=eval_pipeline(),
                          test_mode=True)
    sample = ref[1]['data_samples']
    assert sample.task == 'ref' and sample.prompt_text.split()[-1] in ('circle', 'square',
                                                                         'triangle')
    assert sample.gt_ref_bbox.shape == (4, )


def test_unknown_split_or_colour():
    with pytest.raises(ValueError, match='split'):
        SyntheticShapes(split='val')
    with pytest.raises(ValueError, match='colours'):
        SyntheticShapes(colours=('red', 'magenta'))


@pytest.mark.slow
def test_browse_dataset_writes_pictures(tmp_path):
    from tests.conftest import ROOT, run_tool
    cfg = tmp_path / 'browse.py'
    cfg.write_text(f"""
_base_ = ['{ROOT}/configs/_base_/models/locca_vit_b.py',
          '{ROOT}/configs/_base_/datasets/shapes_pretrain.py']
tokenizer = dict(_base_.tokenizer, text_tokenizer=dict(type='ByteTokenizer'),
                 max_length=dict(cap=128, aref=48, gcap=48))
model = dict(tokenizer=tokenizer)
train_dataloader = dict(dataset=dict(tokenizer=tokenizer))
""")
    proc = run_tool(['analysis_tools/browse_dataset.py', str(cfg),
                     '--output-dir', str(tmp_path / 'out'), '--num', '2'])
    assert proc.returncode == 0, proc.stderr[-2000:]
    import mmcv
    img = mmcv.imread(str(tmp_path / 'out' / '00000.png'))
    assert img.shape[0] > 256 and img.shape[1] >= 256  # the 4x image plus its text panel
    missing = run_tool(['analysis_tools/browse_dataset.py', str(tmp_path / 'none.py'),
                        '--output-dir', str(tmp_path / 'x')])
    assert missing.returncode == 1 and 'config file not found' in missing.stderr


# ------------------------------------------------------------------ evaluation protocols
def test_several_reference_captions_start_with_the_single_one():
    one = SyntheticShapes(num_samples=10, caption_style='descriptive', seed=20_000)
    five = SyntheticShapes(num_samples=10, caption_style='descriptive', seed=20_000,
                           num_captions=5)
    for i in range(10):
        single, refs = one.get_data_info(i)['captions'], five.get_data_info(i)['captions']
        assert len(refs) == 5 and refs[0] == single[0]
    assert any(len(set(five.get_data_info(i)['captions'])) > 1 for i in range(10))
    with pytest.raises(ValueError, match='num_captions'):
        SyntheticShapes(num_captions=0)


def _area(box):
    return float((box[2] - box[0]) * (box[3] - box[1]))


def test_classification_class_is_the_large_object():
    from locca_mm.datasets import ShapesClassification
    ds = ShapesClassification(num_samples=300)
    classes = ds.metainfo['classes']
    assert len(classes) == 12 and classes[0] == 'red circle'
    distractors = 0
    for i in range(300):
        info = ds.get_data_info(i)
        (main, *others), texts = info['regions']['bboxes'], info['regions']['texts']
        assert info['captions'] == [classes[info['gt_label']]] == [texts[0]]
        assert all(_area(main) >= 4 * _area(b) for b in others)
        assert texts[0] not in texts[1:]  # no distractor shares the class
        distractors += len(others)
        # Boxes do not overlap: every object is fully visible.
        boxes = info['regions']['bboxes']
        for a in range(len(boxes)):
            for b in range(a + 1, len(boxes)):
                assert (boxes[a][2] < boxes[b][0] or boxes[b][2] < boxes[a][0] or
                        boxes[a][3] < boxes[b][1] or boxes[b][3] < boxes[a][1])
    assert 0.6 < distractors / 300 < 1.4  # 0-2 a picture, about 1 on average
    counts = ds.class_counts()
    assert sum(counts) == 300 and min(counts) >= 10  # every class drawn, roughly evenly


def test_classification_splits_labels_and_errors():
    from locca_mm.datasets import ShapesClassification
    train, test = (ShapesClassification(split=s, num_samples=20) for s in ('cls_train',
                                                                          'cls_test'))
    pretrain, ref = SyntheticShapes(num_samples=20), SyntheticShapes('ref_train', 20)
    for i in range(20):
        img = train.get_data_info(i)['img']
        assert not any(np.array_equal(img, d.get_data_info(i)['img']) for d in (test, pretrain,
                                                                                ref))
    assert np.array_equal(img, ShapesClassification(num_samples=20).get_data_info(19)['img'])
    colour = ShapesClassification(num_samples=20, label='colour')
    kind = ShapesClassification(num_samples=20, label='kind', colours=tuple(
        ['red', 'green', 'blue', 'yellow', 'purple', 'white']))
    assert colour.metainfo['classes'] == ['red', 'green', 'blue', 'yellow']
    assert kind.metainfo['classes'] == ['circle', 'square', 'triangle']
    six = ShapesClassification(num_samples=1, colours=kind.colours)
    assert len(six.metainfo['classes']) == 18
    info = colour.get_data_info(3)
    assert info['captions'][0] == info['regions']['texts'][0].split()[0]
    with pytest.raises(ValueError, match='split'):
        ShapesClassification(split='pretrain')
    with pytest.raises(ValueError, match='label'):
        ShapesClassification(label='size')
    with pytest.raises(ValueError, match='at most half'):
        ShapesClassification(distractor_size=(0.2, 0.3))


def test_classification_pipeline_packs_the_label():
    from locca_mm.datasets import ShapesClassification
    train = ShapesClassification(num_samples=4, tokenizer=TOKENIZER, pipeline=[
        dict(type='LoadImage'), dict(type='BuildTaskSequences', tasks=('cap', )),
        dict(type='PackLocCaInputs')])
    sample = train[0]['data_samples']
    assert set(sample.task_sequences) == {'cap'}
    assert sample.gt_caption == train.metainfo['classes'][sample.gt_label]
    test = ShapesClassification(split='cls_test', num_samples=4, test_mode=True,
                                pipeline=[dict(type='LoadImage'), dict(type='PackLocCaInputs')])
    sample = test[2]['data_samples']
    assert sample.task == 'cap' and sample.gt_label == test.get_data_info(2)['gt_label']
