"""big_vision's CapPa decoder (models/proj/cappa/cappa.py) == big_vision_cappa_to_locca +
TextDecoder, causal and parallel, within 1e-5."""
import pytest
import torch

from locca_mm.models.text import big_vision_cappa_to_locca, build_text_decoder

from . import load_golden, params_of

FILES = ['cappa_learn.npz', 'cappa_sincos_scan_bias.npz']


def _decoder(name):
    arrays, config = load_golden(name)
    converted = big_vision_cappa_to_locca(params_of(arrays), seq_len=config['seq_len'])
    args = converted.decoder
    assert args['bias'] == config['decoder_bias'] and args['head_bias']
    assert args['num_heads'] == config['decoder_num_heads']
    assert args['embed_dims'] == config['decoder_emb_dim']
    assert args['memory_dims'] == config['emb_dim'] and args['max_len'] == config['seq_len']
    assert args['vocab_size'] == config['vocab_size'] + 1  # + the mask token
    assert args['mask_id'] == config['vocab_size']
    decoder = build_text_decoder(converted)
    text = torch.from_numpy(arrays['input/text']).long()
    memory = decoder.project_memory(torch.from_numpy(arrays['input/encoded']))
    return decoder, text, memory, arrays, config['vocab_size']


def _max_error(logits, expected, vocab):
    """Max |difference| over big_vision's V logits; the extra mask-token logit is ~-1e4."""
    assert (logits[..., vocab] < -1e3).all()
    return (logits[..., :vocab] - torch.from_numpy(expected)).abs().max().item()


@pytest.mark.parametrize('name', FILES)
def test_converted_text_decoder_gives_big_vision_logits(name):
    decoder, text, memory, arrays, vocab = _decoder(name)
    rows = text.shape[0]
    with torch.no_grad():
        causal = decoder(text, memory)
        parallel = decoder(text, memory, parallel=torch.ones(rows, dtype=torch.bool))
    err_causal = _max_error(causal, arrays['output/logits_causal'], vocab)
    err_parallel = _max_error(parallel, arrays['output/logits_parallel'], vocab)
    print(f'{name}: max |TextDecoder - big_vision| = {err_causal:.3g} (causal), '
          f'{err_parallel:.3g} (parallel)')
    assert err_causal < 1e-5 and err_parallel < 1e-5


@pytest.mark.parametrize('name', FILES)
def test_mixed_rows_give_each_mode_its_logits(name):
    # A batch mixing the modes runs through an explicit attention mask, which also hides
    # a causal row's padding inputs from later positions (big_vision's causal mask does
    # not): those positions predict padding only. Every position up to the first padding
    # target, the ones a loss reads, must match.
    decoder, text, memory, arrays, vocab = _decoder(name)
    parallel = torch.tensor([True, False, True])
    assert (text[1] == 0).any()  # the causal row is padded
    with torch.no_grad():
        logits = decoder(text, memory, parallel=parallel)
    for row, is_parallel in enumerate(parallel.tolist()):
        key = 'output/logits_parallel' if is_parallel else 'output/logits_causal'
        upto = text.shape[1] if is_parallel else int((text[row] != 0).sum()) + 1
        assert _max_error(logits[row, :upto], arrays[key][row, :upto], vocab) < 1e-5


def test_the_converter_names_what_it_cannot_map():
    arrays, _ = load_golden('cappa_learn.npz')
    params = params_of(arrays)
    params['params/decoder/EncDecBlock0/Extra/kernel'] = params['params/decoder/LayerNorm/scale']
    with pytest.raises(KeyError, match='EncDecBlock0/Extra/kernel'):
        big_vision_cappa_to_locca(params)
    with pytest.raises(KeyError, match='not a big_vision CapPa model'):
        big_vision_cappa_to_locca({'decoder/kernel': params['params/decoder/LayerNorm/scale']})
    arrays, _ = load_golden('cappa_sincos_scan_bias.npz')
    with pytest.raises(KeyError, match='pass seq_len'):  # a sin-cos model has no table
        big_vision_cappa_to_locca(params_of(arrays))
