"""LocCaTokenizer: task sequences built, cut and read back."""
import pickle

import pytest
import torch
from mmengine.config import ConfigDict

from locca_mm.registry import TOKENIZERS
from locca_mm.tokenizers import ByteTokenizer, LocCaTokenizer, TaskSequence

IMG = (120, 160)  # (h, w)
BOX = torch.tensor([12.3, 40.0, 101.7, 88.8])  # x1, y1, x2, y2
TEXT = 'a red dog sitting on the grass'
ROOMY = dict(cap=64, aref=64, gcap=64)


@pytest.fixture(params=['byte', 'sentencepiece'])
def locca(request) -> LocCaTokenizer:
    text = dict(type='ByteTokenizer')
    if request.param == 'sentencepiece':
        text = dict(type='SentencePieceTokenizer',
                    model_file=request.getfixturevalue('sp_model_file'))
    return LocCaTokenizer(text_tokenizer=text,
                          box_tokenizer=dict(type='BoxTokenizer', num_bins=32),
                          max_length=ROOMY)


def _locs(locca, box=BOX):
    bins = locca.box_tokenizer.encode(box[None], IMG)[0].tolist()
    return ''.join(f'<loc_{b}>' for b in bins)


def _assert_box_close(locca, ids):
    back = locca.parse_box(ids, IMG)
    half = torch.tensor([IMG[1], IMG[0]] * 2) / locca.box_tokenizer.num_bins / 2
    assert ((back - BOX).abs() <= half + 1e-4).all()


def test_cap(locca):
    seq = locca.build('cap', TEXT)
    assert isinstance(seq, TaskSequence) and seq.tokens.dtype == torch.long
    assert seq.prefix_len == len(locca.text_tokenizer.encode('Cap:'))
    assert not seq.truncated
    assert seq.tokens[-1] == locca.text_tokenizer.eos_id
    assert locca.text_tokenizer.decode(seq.tokens[:seq.prefix_len]) == 'Cap:'
    assert locca.parse_text(seq.tokens[seq.prefix_len:]) == TEXT


def test_aref_trains_on_text_and_box(locca):
    seq = locca.build('aref', TEXT, BOX, IMG)
    t = locca.text_tokenizer
    assert seq.prefix_len == len(t.encode('ARef:'))
    assert t.decode(seq.tokens) == f'ARef: {TEXT} :{_locs(locca)}'
    assert seq.tokens[-1] == t.eos_id
    assert t.is_loc(seq.tokens[-5:-1]).all() and t.is_loc(seq.tokens).sum() == 4
    _assert_box_close(locca, seq.tokens[-5:-1])


def test_gcap_trains_on_box_and_text(locca):
    """The paper's GCap: only the prefix is given; the box and then the text are predicted."""
    seq = locca.build('gcap', TEXT, BOX, IMG)
    t = locca.text_tokenizer
    n = len(t.encode('GCap:'))
    assert seq.prefix_len == n and seq.loss_end is None
    assert t.decode(seq.tokens) == f'GCap:{_locs(locca)}: {TEXT}'
    _assert_box_close(locca, seq.tokens[n:n + 4])
    assert locca.parse_text(seq.tokens[n + 4 + len(t.encode(':')):]) == TEXT


def _trained(seq, tok):
    """The decoded tokens a sequence's loss covers."""
    end = seq.loss_end if seq.loss_end is not None else len(seq.tokens)
    return tok.text_tokenizer.decode(seq.tokens[seq.prefix_len:end])


@pytest.mark.parametrize('task,loss_on,trained', [
    ('aref', ('text', 'box'), ' blue cube :{box}'),
    ('aref', ('box', ), ' :{box}'),            # Table 7: no loss on the ARef text
    ('aref', ('text', ), ' blue cube'),
    ('gcap', ('box', 'text'), '{box}: blue cube'),
    ('gcap', ('text', ), ': blue cube'),        # Table 7: no loss on the GCap box
    ('gcap', ('box', ), '{box}'),
])
def test_loss_on_selects_the_trained_tokens(task, loss_on, trained):
    """Which positions carry loss, on a known byte sequence, for every loss_on option."""
    tok = LocCaTokenizer(box_tokenizer=dict(type='BoxTokenizer', num_bins=32),
                         loss_on={task: loss_on})
    seq = tok.build(task, 'blue cube', BOX, IMG)
    assert _trained(seq, tok) == trained.format(box=_locs(tok))
    # eos is trained exactly when the sequence's second part is.
    second_trained = loss_on[-1] == ('box' if task == 'aref' else 'text') or len(loss_on) == 2
    assert (seq.loss_end is None) == second_trained
    # Whatever is not trained after the prefix is what an inference prompt gives.
    cap = tok.build('cap', 'blue cube')
    assert _trained(cap, tok) == 'blue cube' and cap.prefix_len == 4


def test_loss_on_rejects_bad_values():
    with pytest.raises(ValueError, match='non-empty subset'):
        LocCaTokenizer(loss_on=dict(aref=()))
    with pytest.raises(ValueError, match='non-empty subset'):
        LocCaTokenizer(loss_on=dict(gcap=('box', 'caption')))
    with pytest.raises(ValueError, match='location tasks'):
        LocCaTokenizer(loss_on=dict(cap=('text', )))


def test_gcap_prompt_with_and_without_box(locca):
    seq = locca.build('gcap', TEXT, BOX, IMG)
    given = locca.prompt('gcap', box=BOX, img_shape=IMG)
    assert torch.equal(given, seq.tokens[:len(given)])
    assert locca.text_tokenizer.decode(given) == f'GCap:{_locs(locca)}:'
    bare = locca.prompt('gcap')
    assert locca.text_tokenizer.decode(bare) == 'GCap:'


@pytest.mark.parametrize('task', ['cap', 'aref', 'gcap'])
@pytest.mark.parametrize('text', [TEXT, 'a dog ' * 40])
def test_prompt_is_start_of_sequence(locca, task, text):
    if 'dog a' in text:  # cut to the default lengths
        locca = LocCaTokenizer(text_tokenizer=locca.text_tokenizer,
                               box_tokenizer=locca.box_tokenizer)
    seq = locca.build(task, text, BOX, IMG)
    prompt = locca.prompt(task, text, BOX, IMG)
    assert torch.equal(prompt, seq.tokens[:len(prompt)])
    # What follows the prompt is what the decoder generates.
    rest = seq.tokens[len(prompt):]
    text_tok = locca.text_tokenizer
    if task == 'aref':
        assert text_tok.is_loc(rest[:4]).all() and rest.tolist()[4:] == [text_tok.eos_id]
    elif task == 'gcap' and 'dog a' not in text:
        assert not text_tok.is_loc(rest).any() and rest[-1] == text_tok.eos_id
    else:
        assert not text_tok.is_loc(rest).any() and len(rest) > 0


def test_parse_box_batched():
    locca = LocCaTokenizer()
    boxes = torch.tensor([[0., 0., 50., 60.], [10., 20., 30., 40.]])
    sizes = torch.tensor([[60., 50.], [100., 100.]])
    ids = locca.text_tokenizer.loc_ids(locca.box_tokenizer.encode(boxes, sizes))
    back = locca.parse_box(ids, sizes)
    assert back.shape == (2, 4)
    assert ((back - boxes).abs() <= sizes.flip(1).repeat(1, 2) / 100 / 2 + 1e-4).all()
    with pytest.raises(ValueError, match='not location token ids'):
        locca.parse_box(torch.tensor([5, 6, 7, 8]), IMG)


def test_truncation_cap_cuts_text_and_drops_eos():
    locca = LocCaTokenizer(max_length=dict(cap=10, aref=24, gcap=24))  # 'Cap:' is 4 bytes
    fits = locca.build('cap', 'abcde')
    assert (len(fits.tokens), fits.truncated, fits.tokens[-1].item()) == (10, False, 2)
    cut = locca.build('cap', 'abcdefg')
    assert cut.truncated and len(cut.tokens) == 10
    assert locca.text_tokenizer.eos_id not in cut.tokens.tolist()
    assert locca.text_tokenizer.decode(cut.tokens) == 'Cap:abcdef'


def test_truncation_aref_never_cuts_box():
    locca = LocCaTokenizer(max_length=24)  # aref: 24 = 'ARef:' 5 + text 12 + ' :' 2 + box 4 + eos 1
    seq = locca.build('aref', 'the dog on the far left of the picture', BOX, IMG)
    assert seq.truncated and len(seq.tokens) == 24
    assert locca.text_tokenizer.decode(seq.tokens) == f'ARef: the dog on  :{_locs(locca, BOX)}'
    assert seq.tokens[-1] == locca.text_tokenizer.eos_id
    _assert_box_close(locca, seq.tokens[-5:-1])
    assert not locca.build('aref', 'x' * 11, BOX, IMG).truncated


def test_truncation_gcap_cuts_text_and_drops_eos():
    locca = LocCaTokenizer(max_length=24)
    seq = locca.build('gcap', 'the dog on the far left of the picture', BOX, IMG)
    assert seq.truncated and len(seq.tokens) == 24
    assert locca.text_tokenizer.eos_id not in seq.tokens.tolist()
    assert locca.text_tokenizer.decode(seq.tokens).endswith(': the dog on th')


@pytest.mark.parametrize('task', ['cap', 'aref', 'gcap'])
@pytest.mark.parametrize('text', ['', '   \n'])
def test_empty_text(task, text):
    with pytest.raises(ValueError, match=f'empty text for task "{task}"'):
        LocCaTokenizer().build(task, text, BOX, IMG)


def test_bad_requests():
    locca = LocCaTokenizer()
    with pytest.raises(ValueError, match='unknown task "det"; valid tasks: cap, aref, gcap'):
        locca.build('det', TEXT)
    with pytest.raises(ValueError, match='unknown task'):
        locca.prompt('det')
    for task in ('aref', 'gcap'):
        with pytest.raises(ValueError, match=f'task "{task}" needs a box'):
            locca.build(task, TEXT)
        with pytest.raises(ValueError, match='needs img_shape'):
            locca.build(task, TEXT, BOX)
    with pytest.raises(ValueError, match='needs a text'):
        locca.build('cap')
    with pytest.raises(ValueError, match='4 values'):
        locca.build('aref', TEXT, torch.zeros(2, 4), IMG)
    with pytest.raises(ValueError, match='task "gcap": box 0 has x2 < x1'):
        locca.build('gcap', TEXT, torch.tensor([50., 0., 10., 10.]), IMG)


def test_mismatched_num_bins():
    with pytest.raises(ValueError, match='num_bins=50.*num_bins=100'):
        LocCaTokenizer(text_tokenizer=dict(type='ByteTokenizer', num_bins=50))
    with pytest.raises(ValueError, match='num_bins=10.*num_bins=100'):
        LocCaTokenizer(text_tokenizer=ByteTokenizer(num_bins=10))
    # The same number given twice is accepted.
    locca = LocCaTokenizer(text_tokenizer=dict(type='ByteTokenizer', num_bins=100))
    assert locca.text_tokenizer.num_bins == 100


def test_bad_configuration(sp_model_file_no_pad):
    with pytest.raises(ValueError, match='leaves no room for text'):
        LocCaTokenizer(max_length=dict(cap=64, aref=12, gcap=24))
    with pytest.raises(ValueError, match='missing'):
        LocCaTokenizer(max_length=dict(cap=64))
    with pytest.raises(ValueError, match='prefixes'):
        LocCaTokenizer(prefixes=dict(cap='Cap:', det='Det:'))
    # That model has no upper-case letters.
    with pytest.raises(ValueError, match="prefix of task \"cap\" 'Cap:'.*cannot spell"):
        LocCaTokenizer(text_tokenizer=dict(type='SentencePieceTokenizer',
                                           model_file=sp_model_file_no_pad))


def test_empty_prefix_and_fewer_tasks():
    locca = LocCaTokenizer(prefixes=dict(cap=''), max_length=16)
    assert locca.tasks == ('cap',)
    seq = locca.build('cap', 'a dog')
    assert seq.prefix_len == 0
    text_tok = locca.text_tokenizer
    assert seq.tokens.tolist() == text_tok.encode('a dog') + [text_tok.eos_id]
    assert locca.prompt('cap').numel() == 0
    with pytest.raises(ValueError, match='valid tasks: cap$'):
        locca.build('aref', TEXT, BOX, IMG)


def test_built_from_config():
    cfg = ConfigDict(type='LocCaTokenizer',
                     text_tokenizer=dict(type='ByteTokenizer'),
                     box_tokenizer=dict(type='BoxTokenizer', num_bins=16, order='xyxy'))
    locca = TOKENIZERS.build(cfg)
    assert isinstance(locca, LocCaTokenizer)
    assert locca.text_tokenizer.num_bins == 16 and locca.text_tokenizer.vocab_size == 260 + 16
    assert locca.box_tokenizer.order == 'xyxy'
    assert locca.tasks == ('cap', 'aref', 'gcap')
    assert 'BoxTokenizer(num_bins=16' in repr(locca) and "'aref': 'ARef:'" in repr(locca)


def test_pickle():
    locca = LocCaTokenizer()
    copy = pickle.loads(pickle.dumps(locca))
    assert torch.equal(copy.build('gcap', TEXT, BOX, IMG).tokens,
                       locca.build('gcap', TEXT, BOX, IMG).tokens)


def test_aref_prompt_cut_warns_once_and_counts(monkeypatch):
    import locca_mm.tokenizers.locca as module
    logged = []
    monkeypatch.setattr(module, 'print_log', lambda msg, **kw: logged.append(msg))
    tok = LocCaTokenizer(max_length=24)
    long = 'the dog on the far left of the picture'
    for _ in range(3):
        prompt = tok.prompt('aref', long)
        assert torch.equal(prompt, tok.build('aref', long, BOX, IMG).tokens[:len(prompt)])
    assert tok.truncated_prompts == 3
    assert len(logged) == 1 and 'max_length["aref"]=24' in logged[0] and long in logged[0]
    tok.prompt('aref', 'a dog')  # fits: not counted
    assert tok.truncated_prompts == 3


def test_the_signature_changes_with_what_decides_the_sequences():
    base = dict(text_tokenizer=dict(type='ByteTokenizer'),
                box_tokenizer=dict(type='BoxTokenizer', num_bins=16))
    sig = LocCaTokenizer(**base).signature
    assert len(sig) == 12 and LocCaTokenizer(**base).signature == sig  # a pure function
    changed = [
        dict(box_tokenizer=dict(type='BoxTokenizer', num_bins=17)),
        dict(box_tokenizer=dict(type='BoxTokenizer', num_bins=16, order='xyxy')),
        dict(prefixes=dict(cap='', aref='ARef:', gcap='GCap:')),
        dict(max_length=dict(cap=64, aref=40, gcap=48)),
        dict(loss_on=dict(aref=('box', ))),
        dict(separator=';'),
    ]
    sigs = {LocCaTokenizer(**dict(base, **c)).signature for c in changed}
    assert sig not in sigs and len(sigs) == len(changed)
