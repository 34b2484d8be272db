"""Questions (VQA): the question joins the Cap prompt, the answer alone is trained and
generated. Token ids are written by hand from the ByteTokenizer's layout (byte b -> b + 4,
eos 2), as in tests/test_contracts/test_loss_positions.py."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from locca_mm.datasets.transforms import BuildTaskSequences, PackLocCaInputs
from locca_mm.structures import TaskBatch
from locca_mm.tokenizers import LocCaTokenizer
from tests.test_models.utils import IMG, build_tiny

EOS = 2


def _b(text: str):
    return [c + 4 for c in text.encode('utf-8')]


def test_a_question_joins_the_prompt_and_only_the_answer_is_trained():
    tok = LocCaTokenizer()
    seq = tok.build('cap', text=' two ', question=' how many dogs? ')
    prompt = _b('Cap:') + _b(' how many dogs?') + _b(' :')
    assert seq.tokens.tolist() == prompt + _b(' two') + [EOS]
    assert seq.prefix_len == len(prompt) and not seq.truncated
    # The inference prompt is token for token the start of the training sequence.
    assert tok.prompt('cap', question='how many dogs?').tolist() == prompt
    # Without a question, Cap is unchanged: the caption follows the prefix directly.
    assert tok.build('cap', text='two dogs').tokens.tolist() == _b('Cap:two dogs') + [EOS]
    assert tok.prompt('cap').tolist() == _b('Cap:')


def test_bad_questions_are_refused():
    tok = LocCaTokenizer()
    with pytest.raises(ValueError, match='empty text'):
        tok.build('cap', text='two', question='   ')
    with pytest.raises(ValueError, match='only the cap task takes a question'):
        tok.build('aref', text='a dog', box=torch.tensor([1., 1., 5., 5.]), img_shape=(8, 8),
                  question='where?')
    with pytest.raises(ValueError, match='empty text'):
        tok.build('cap', text='', question='how many?')


def _vqa_results(answers, question='what colour is it?'):
    rng = np.random.default_rng(0)
    return dict(img=rng.integers(0, 256, (IMG, IMG, 3), dtype=np.uint8), img_shape=(IMG, IMG),
                ori_shape=(IMG, IMG), scale_factor=(1.0, 1.0), captions=list(answers),
                question=question, gt_answer=sorted(set(answers)), gt_label=3)


def test_the_pipeline_draws_answers_by_frequency_and_packs_the_ground_truth():
    tok = LocCaTokenizer()
    build = BuildTaskSequences(tokenizer=tok, tasks=('cap', ))
    np.random.seed(0)
    drawn = [build(_vqa_results(['red'] * 3 + ['blue']))['gt_caption'] for _ in range(400)]
    assert abs(drawn.count('red') / 400 - 0.75) < 0.06
    packed = PackLocCaInputs()(build(_vqa_results(['red'])))
    sample = packed['data_samples']
    assert sample.prompt_text == 'what colour is it?'
    assert sample.gt_answer == ['red'] and sample.gt_label == 3
    seq = sample.task_sequences['cap']
    assert seq.tokens[seq.prefix_len:].tolist() == _b(' red') + [EOS]


def _batch(model, answers):
    build = BuildTaskSequences(tokenizer=model.tokenizer, tasks=('cap', ), caption='first')
    pack = PackLocCaInputs()
    packed = [pack(build(_vqa_results([a], q))) for q, a in answers]
    data = dict(inputs=[p['inputs'] for p in packed],
                data_samples=[p['data_samples'] for p in packed])
    return model.data_preprocessor(data, True)


def test_the_loss_is_the_cross_entropy_of_the_answer_and_eos():
    model = build_tiny(parallel_ratio=0.0).train()
    torch.manual_seed(1)
    torch.nn.init.normal_(model.head.decoder.logit_layer.weight, std=0.5)
    batch = _batch(model, [('what colour?', 'red')])
    with torch.no_grad():
        loss = model(**batch, mode='loss')['loss_cap']
        memory = model.head.project_memory(model.extract_feat(batch['inputs']))
        ids = _b('Cap:') + _b(' what colour?') + _b(' :') + _b(' red') + [EOS]
        start = len(ids) - len(_b(' red')) - 1
        logits = model.head.decoder(torch.tensor([ids]), memory)[0]
    expected = F.cross_entropy(logits[start:], torch.tensor(ids[start:]))
    assert batch['task_batches']['cap'].tokens[0].tolist() == ids
    assert loss.item() == pytest.approx(float(expected), rel=1e-5, abs=1e-6)
    with_question = F.cross_entropy(logits[5:], torch.tensor(ids[5:]))
    assert abs(float(with_question) - float(expected)) > 1e-3


def test_rows_with_a_question_are_never_parallel():
    model = build_tiny(parallel_ratio=1.0).train()
    batch = _batch(model, [('what colour?', 'red'), ('how many?', 'two')])
    plain = model.head.tokenizer.build('cap', text='a red dog')
    rows = batch['task_batches']['cap']
    assert not model.head._parallel_rows('cap', rows).any()

    caps = TaskBatch.from_sequences([plain], [0], 1, model.head.pad_id)
    assert model.head._parallel_rows('cap', caps).all()


def test_vqa_prediction_answers_the_question_of_each_sample():
    model = build_tiny().eval()
    batch = _batch(model, [('what colour?', 'red'), ('how many?', 'two')])
    for ds in batch['data_samples']:
        ds.task = 'vqa'
        del ds.task_sequences
    with torch.no_grad():
        out = model(batch['inputs'], batch['data_samples'], mode='predict')
    for ds in out:
        assert ds.task == 'vqa' and isinstance(ds.pred_answer, str)
        assert ds.pred_answer == ds.pred_caption
    # Decoding continues the question's prompt: the answer equals greedy decoding by hand
    # after it (the first token is the highest-scoring text token).
    with torch.no_grad():
        memory = model.head.project_memory(model.extract_feat(batch['inputs'][:1]))
        prompt = model.tokenizer.prompt('cap', question='what colour?')
        logits = model.head.decoder(prompt[None], memory)[0, -1]
    mask = model.tokenizer.text_tokenizer.text_token_mask()
    first = int(torch.where(mask, logits, torch.tensor(float('-inf'))).argmax())
    char = model.tokenizer.text_tokenizer.decode(torch.tensor([first]))
    assert first != EOS and char
    if char.strip():  # (a leading space is stripped from the answer)
        assert out[0].pred_answer.startswith(char)
    no_question = batch['data_samples'][0]
    no_question.prompt_text = ''
    with pytest.raises(ValueError, match='prompt_text'):
        model.head.predict(memory, [no_question], 'vqa')
