"""ClipBPETokenizer: CLIP's byte-level BPE (49,408 tokens), the vocabulary open_clip_torch ships.

Nothing to train and nothing to download: the merges file
``open_clip/bpe_simple_vocab_16e6.txt.gz`` is part of the ``open_clip_torch``
wheel (``requirements/optional.txt``, installed by ``make install``), and the
BPE itself is open_clip's ``SimpleTokenizer``.

Only ``open_clip/tokenizer.py`` is executed, not the ``open_clip`` package:
``import open_clip`` imports its model zoo, timm, huggingface_hub and
transformers (about 1.2 s after torch, against 0.15 s for ``tokenizer.py`` and
the vocabulary) in every process that builds the tokenizer, for a file that
needs none of them. ``tokenizer.py`` imports only ftfy, regex, numpy and
torch; it is loaded on its own from the installed package's folder (found with
``importlib.util.find_spec``, which does not run the package), or taken from
``sys.modules`` when open_clip is already imported; should a later
``tokenizer.py`` need its package, ``open_clip`` is imported the ordinary way.
Its one import-time side effect remains either way: it sets
``os.environ['TOKENIZERS_PARALLELISM'] = 'false'`` for the process.
"""
import importlib.util
import os.path as osp
import sys
from functools import lru_cache
from typing import List, Optional

from locca_mm.registry import TOKENIZERS

from .base import TextTokenizer, append_missing_specials

INSTALL_HINT = ('ClipBPETokenizer needs open_clip_torch (its SimpleTokenizer and the CLIP BPE '
                'vocabulary file it ships): pip install open_clip_torch '
                '(listed in requirements/optional.txt, which `make install` installs)')
#: The merges file inside the installed ``open_clip`` package.
BPE_FILE = 'bpe_simple_vocab_16e6.txt.gz'
#: Size of CLIP's vocabulary: 512 byte symbols, 48,894 merges, <start_of_text>, <end_of_text>.
CLIP_VOCAB_SIZE = 49408
CLEAN_MODES = ('lower', 'whitespace', 'canonicalize')
#: Words whose BPE is memoised before the memo is cleared (a few tens of MB).
BPE_CACHE_LIMIT = 200_000
_MODULE_NAME = '_locca_mm_open_clip_tokenizer'  # top level: no package to resolve into

# -- detokenization: CLIP's decode puts a space after every pre-token ('cat .') -----------------
_CLOSING = tuple('.,!?;:%)]}')
_OPENING = tuple('([{')
_CONTRACTIONS = frozenset(("'s", "'t", "'re", "'ve", "'m", "'ll", "'d"))
_JOINERS = frozenset(('-', '/'))
_CURRENCIES = tuple('$£€¥')


def open_clip_package_dir() -> str:
    """Folder of the installed ``open_clip`` package, found without importing it.

    Raises:
        ImportError: open_clip_torch is not installed (the message says how to install it).
    """
    try:
        spec = importlib.util.find_spec('open_clip')
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(INSTALL_HINT)
    return list(spec.submodule_search_locations)[0]


def default_bpe_path() -> str:
    """Path of CLIP's BPE merges file as the installed open_clip_torch wheel ships it."""
    path = osp.join(open_clip_package_dir(), BPE_FILE)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} is missing from the installed open_clip_torch; '
                                'reinstall it: pip install --force-reinstall open_clip_torch')
    return path


def _open_clip_tokenizer_module():
    """open_clip's ``tokenizer`` module, without running ``open_clip/__init__.py``."""
    for name in ('open_clip.tokenizer', _MODULE_NAME):
        if name in sys.modules:
            return sys.modules[name]
    path = osp.join(open_clip_package_dir(), 'tokenizer.py')
    spec = importlib.util.spec_from_file_location(_MODULE_NAME, path)
    if spec is None or spec.loader is None:
        raise ImportError(f'cannot load {path}; {INSTALL_HINT}')
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as e:
        if e.name in ('ftfy', 'regex'):  # open_clip_torch's own dependencies
            raise ImportError(f'{INSTALL_HINT} (missing: {e.name})') from e
        # A future tokenizer.py that needs its package: import it the ordinary way.
        from open_clip import tokenizer as module
        return module
    sys.modules[_MODULE_NAME] = module
    return module


@lru_cache(maxsize=None)
def _simple_tokenizer(bpe_path: str, clean: str):
    """One open_clip ``SimpleTokenizer`` per (file, clean mode), shared by all instances.

    Its pre-tokenizer pattern loses the ``<start_of_text>|<end_of_text>``
    alternatives: those strings in a caption are spelled as text (``<``,
    ``end``, ``_``, ...) instead of becoming bos/eos ids. Every other text
    encodes exactly as ``open_clip.tokenize`` does.
    """
    module = _open_clip_tokenizer_module()
    kwargs = {} if clean == 'lower' else dict(clean=clean)  # older open_clip: no `clean`
    bpe = module.SimpleTokenizer(bpe_path, **kwargs)
    specials = '|'.join(bpe.decoder[i] for i in bpe.all_special_ids) + '|'
    if bpe.pat.pattern.startswith(specials):
        # `module.re` is the `regex` package that tokenizer.py imports as `re`.
        bpe.pat = module.re.compile(bpe.pat.pattern[len(specials):], bpe.pat.flags)
    return bpe


def detokenize(words: List[str]) -> str:
    """Readable text of CLIP's pre-tokens (``['a', 'dog', "'s", 'toy', '.']``).

    CLIP's encoding forgets the spaces next to punctuation and between digits,
    so they are put back by rule: none before ``. , ! ? ; : % ) ] }`` and
    contractions (``'s``, ``'t``, ...), none after ``( [ {``, none around
    ``-`` and ``/`` between words, none between digits (``1 2`` -> ``12``,
    ``3 . 5`` -> ``3.5``) or after a currency sign before one (``$ 5`` ->
    ``$5``), and double quotes close around what they enclose.
    Single quotes other than contractions keep their spaces.
    """
    out = ''
    quotes = 0
    for i, word in enumerate(words):
        prev = words[i - 1] if i else ''
        nxt = words[i + 1] if i + 1 < len(words) else ''
        attach = (
            not out
            or word.startswith(_CLOSING) or word.lower() in _CONTRACTIONS
            or prev.endswith(_OPENING)
            or (prev == '"' and quotes % 2 == 1)  # after an opening quote
            or (word == '"' and quotes % 2 == 1)  # the closing quote
            or (word in _JOINERS and prev[-1:].isalnum() and nxt[:1].isalnum())
            or (prev in _JOINERS and i >= 2 and words[i - 2][-1:].isalnum()
                and word[:1].isalnum())
            or (word.isdigit() and prev.endswith(_CURRENCIES + tuple('0123456789')))
            or (word.isdigit() and prev in ('.', ',', ':') and i >= 2
                and words[i - 2][-1:].isdigit()))
        if word == '"':
            quotes += 1
        out += word if attach else ' ' + word
    return out


@TOKENIZERS.register_module()
class ClipBPETokenizer(TextTokenizer):
    """CLIP's byte-level BPE vocabulary, ready to use: no tokenizer to train.

    The vocabulary and the encoding are open_clip's (``open_clip.tokenize``
    gives the same ids between its ``<start_of_text>`` and ``<end_of_text>``):
    text is cleaned as CLIP does (ftfy, HTML unescaping, whitespace collapsed,
    lower-cased) and split into words, numbers (one token per digit) and
    punctuation runs before the BPE. Any text encodes; nothing is unknown.

    Ids: 0 .. 49,405 CLIP's pieces, ``bos = 49406`` (``<start_of_text>``),
    ``eos = 49407`` (``<end_of_text>``), then two appended ids, ``pad = 49408``
    and ``mask = 49409``, then the location tokens from ``loc_offset = 49410``
    (``vocab_size = 49410 + num_bins``). open_clip pads with 0, which
    is harmless for its contrastive text tower: that reads the features at
    ``<end_of_text>`` and, being causal, never attends to what follows. But id
    0 is a real piece (``!`` inside a punctuation run such as ``!?``; a lone
    ``!`` is 256), and here pad targets are left out of the loss, dropped by
    :meth:`decode` and never generated (open_clip's CoCa loss also ignores id
    0): that piece would never be learnt. So pad gets an id of its own after
    CLIP's vocabulary, as does mask (CapPa's parallel-prediction input), which
    CLIP lacks.
    The strings ``<start_of_text>`` / ``<end_of_text>`` in text are spelled as
    text, never turned into bos/eos.

    :meth:`decode` gives readable text: CLIP's decoding joined the words with
    spaces (``a dog 's toy .``); :func:`detokenize` removes those that
    punctuation, contractions and numbers do not take (``a dog's toy.``).
    For text written that way, ``decode(encode(text))`` is the cleaned text.

    Args:
        num_bins (int): Location tokens after the vocabulary. Defaults to 0.
        clean (str): open_clip's text cleaning: ``'lower'`` (CLIP's: ftfy,
            whitespace, lower case; the default), ``'whitespace'`` (keeps the
            case, which CLIP's merges, learnt on lower-case text, spell in many
            more pieces) or ``'canonicalize'`` (also removes punctuation).
        bpe_path (str, optional): A merges file in CLIP's format. Defaults to
            the one the installed open_clip_torch ships.

    Raises:
        ImportError: open_clip_torch is not installed (``pip install open_clip_torch``).
    """

    def __init__(self,
                 num_bins: int = 0,
                 clean: str = 'lower',
                 bpe_path: Optional[str] = None):
        if clean not in CLEAN_MODES:
            raise ValueError(f'clean must be one of {CLEAN_MODES}, got {clean!r}')
        if bpe_path is None:
            bpe_path = default_bpe_path()
        elif not osp.isfile(bpe_path):
            raise FileNotFoundError(f'CLIP BPE merges file not found: {bpe_path}')
        self.bpe_path = bpe_path
        self.clean = clean
        self._bpe = _simple_tokenizer(bpe_path, clean)
        size = len(self._bpe.encoder)
        found = dict(pad_id=None, bos_id=self._bpe.sot_token_id,
                     eos_id=self._bpe.eot_token_id, mask_id=None)
        super().__init__(num_bins, **append_missing_specials(found, size))

    def __getstate__(self) -> dict:
        # Data workers get the tokenizer pickled: they reload the merges (a fraction of a
        # second, once per process) rather than receive open_clip's tables and word cache.
        state = self.__dict__.copy()
        state.pop('_bpe', None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._bpe = _simple_tokenizer(self.bpe_path, self.clean)

    @property
    def text_vocab_size(self) -> int:
        """Size of CLIP's own vocabulary (49,408 with the shipped file), specials included."""
        return len(self._bpe.encoder)

    def clean_text(self, text: str) -> str:
        """``text`` cleaned as CLIP does before encoding (with ``clean='lower'``:
        ftfy, HTML unescaping, whitespace collapsed, lower case)."""
        return self._bpe.clean_fn(text)

    def _encode_text(self, text: str) -> List[int]:
        # open_clip memoises the BPE of every distinct word and never forgets one: web-scale
        # captions (ids, URLs, typos) would grow it without end in long-lived data workers.
        if len(self._bpe.cache) > BPE_CACHE_LIMIT:
            self._bpe.cache.clear()
        return self._bpe.encode(text)

    def _decode_text(self, ids: List[int]) -> str:
        # open_clip's decode ends every pre-token with a space (its '</w>').
        return detokenize(self._bpe.decode(ids).split())
