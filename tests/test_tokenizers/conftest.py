"""Tokenizer fixtures: small SentencePiece and HF models trained on synthetic captions."""
import random

import pytest

PREFIX_CHARS = ''.join(sorted(set('Cap: ARef: GCap:') - {' '}))
WORDS = dict(
    colour='red green blue yellow black white brown orange purple grey'.split(),
    thing='dog cat bird horse car truck bicycle person umbrella table chair kite'.split(),
    action='sitting running standing jumping sleeping parked flying waiting'.split(),
    place='grass street beach table road field kitchen sky'.split())


def synthetic_captions(n: int = 50, seed: int = 0):
    """``n`` lower-case captions like 'a red dog sitting on the grass'."""
    rng = random.Random(seed)
    return [f"a {rng.choice(WORDS['colour'])} {rng.choice(WORDS['thing'])} "
            f"{rng.choice(WORDS['action'])} on the {rng.choice(WORDS['place'])}"
            for _ in range(n)]


@pytest.fixture(scope='session')
def captions():
    return synthetic_captions()


def _train_sp(path, captions, vocab_size=56, **kwargs) -> str:
    import sentencepiece as spm
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(captions), model_prefix=str(path), vocab_size=vocab_size,
        minloglevel=2, **kwargs)
    return str(path) + '.model'


@pytest.fixture(scope='session')
def sp_model_file(tmp_path_factory, captions) -> str:
    """pad=0, unk=1, bos=2, eos=3 defined; the task prefixes spell without unknowns."""
    return _train_sp(tmp_path_factory.mktemp('sp') / 'm', captions, pad_id=0, unk_id=1,
                     bos_id=2, eos_id=3, required_chars=PREFIX_CHARS)


@pytest.fixture(scope='session')
def sp_model_file_no_pad(tmp_path_factory, captions) -> str:
    """sentencepiece's defaults: unk=0, bos=1, eos=2, no pad; no upper-case letters."""
    return _train_sp(tmp_path_factory.mktemp('sp_no_pad') / 'm', captions)


@pytest.fixture(scope='session')
def hf_tokenizer_file(tmp_path_factory, captions) -> str:
    """Byte-level BPE with [PAD] and [EOS] (no [BOS]/[MASK]), an eos-appending
    post-processor and truncation to 3 tokens, none of which may leak into encode."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=['[PAD]', '[EOS]'],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(captions, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single='$A [EOS]', special_tokens=[('[EOS]', tok.token_to_id('[EOS]'))])
    tok.enable_truncation(3)
    path = tmp_path_factory.mktemp('hf') / 'tokenizer.json'
    tok.save(str(path))
    return str(path)
