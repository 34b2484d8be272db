"""Train a SentencePiece model on captions.

    python tools/dataset_converters/train_tokenizer.py FILES --out PREFIX

Inputs, one kind per file:

- ``*.jsonl``: one record per line; its ``--field`` (a string or a list of
  strings) and the ``text`` of each entry of its ``regions`` when present;
- ``*.json``: COCO captions (``annotations[*].caption``), or a list of
  records read like JSONL lines;
- anything else: plain text, one caption per line.

Writes ``PREFIX.model`` and ``PREFIX.vocab`` with pad=0, unk=1, bos=2, eos=3,
the ids :class:`locca_mm.tokenizers.SentencePieceTokenizer` reuses,
and prints the model's path. The characters of the task prefixes are always
in the vocabulary, so ``Cap:``, ``ARef:`` and ``GCap:`` never encode to the
unknown piece. ``--lowercase`` trains a case-folding model: it lower-cases
text by itself at encoding time, no tokenizer option needed.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Iterator, List, Optional, Sequence

DEFAULT_REQUIRED_TEXT = 'Cap: ARef: GCap:'


class SetupError(Exception):
    """Bad input or option: reported as one ``error:`` line, exit status 1.

    The tool needs only sentencepiece; it does not import ``locca_mm`` (and
    with it torch and mmengine), which would take seconds to start.
    """


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a SentencePiece model on captions')
    parser.add_argument('inputs', nargs='+', metavar='CAPTIONS',
                        help='caption files: .txt (one per line), .jsonl, or COCO captions .json')
    parser.add_argument('--out', required=True, metavar='PREFIX',
                        help='output prefix: writes PREFIX.model and PREFIX.vocab')
    parser.add_argument('--vocab-size', type=int, default=8000, help='number of pieces')
    parser.add_argument('--model-type', choices=['unigram', 'bpe'], default='unigram')
    parser.add_argument('--lowercase', action='store_true',
                        help='train a case-folding model (it lower-cases at encoding time)')
    parser.add_argument('--field', default='caption', help='text field of JSONL/JSON records')
    parser.add_argument('--character-coverage', type=float, default=0.9995,
                        help='share of characters the vocabulary covers (1.0: all)')
    parser.add_argument('--required-text', default=DEFAULT_REQUIRED_TEXT,
                        help='characters always in the vocabulary (default: the task prefixes)')
    return parser.parse_args(argv)


def _record_texts(record, field: str) -> Iterator[str]:
    """The ``field`` value(s) of one record and the text of its regions."""
    if not isinstance(record, dict):
        return
    value = record.get(field)
    for text in value if isinstance(value, list) else [value]:
        if isinstance(text, str):
            yield text
    for region in record.get('regions') or []:
        if isinstance(region, dict) and isinstance(region.get('text'), str):
            yield region['text']


def _file_texts(path: str, field: str) -> Iterator[str]:
    if path.endswith('.jsonl'):
        with open(path, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise SetupError(f'{path}:{lineno}: not a JSON record ({e.msg})') from e
                yield from _record_texts(record, field)
    elif path.endswith('.json'):
        try:
            with open(path, encoding='utf-8') as f:
                data = json.load(f)
        except json.JSONDecodeError as e:
            raise SetupError(f'{path}: not JSON ({e.msg} at line {e.lineno})') from e
        if isinstance(data, dict) and 'annotations' in data:
            for ann in data['annotations']:
                if isinstance(ann, dict) and isinstance(ann.get('caption'), str):
                    yield ann['caption']
        elif isinstance(data, list):
            for record in data:
                yield from _record_texts(record, field)
        else:
            raise SetupError(f'{path}: expected COCO captions (a dict with "annotations") '
                             'or a list of records')
    else:
        with open(path, encoding='utf-8') as f:
            yield from f


def read_captions(paths: Sequence[str], field: str, lowercase: bool) -> List[str]:
    """Every non-empty caption of ``paths``, whitespace-stripped."""
    for path in paths:
        if not osp.isfile(path):
            raise SetupError(f'caption file not found: {path}')
    captions = []
    for path in paths:
        for text in _file_texts(path, field):
            text = text.strip()
            if text:
                captions.append(text.lower() if lowercase else text)
    if not captions:
        raise SetupError(f'no captions found in {", ".join(paths)} (field "{field}")')
    return captions


def train(captions: List[str], args: argparse.Namespace) -> str:
    """Train the model; returns the path of ``PREFIX.model``."""
    import sentencepiece as spm
    out_dir = osp.dirname(osp.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    required_text = args.required_text.lower() if args.lowercase else args.required_text
    required = ''.join(sorted(set(required_text) - {' '}))
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(captions),
            model_prefix=args.out,
            vocab_size=args.vocab_size,
            model_type=args.model_type,
            character_coverage=args.character_coverage,
            required_chars=required,
            # Case folding lives in the model, so encoding folds case too.
            normalization_rule_name='nmt_nfkc_cf' if args.lowercase else 'nmt_nfkc',
            pad_id=0, unk_id=1, bos_id=2, eos_id=3,
            minloglevel=2)
    except RuntimeError as e:
        # sentencepiece prefixes its messages with the C++ source location.
        raise SetupError(str(e).split('] ')[-1].strip()) from e
    return args.out + '.model'


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if args.vocab_size < 1:
        raise SetupError(f'--vocab-size must be positive, got {args.vocab_size}')
    captions = read_captions(args.inputs, args.field, args.lowercase)
    print(train(captions, args))


if __name__ == '__main__':
    try:
        main()
    except SetupError as e:
        if os.environ.get('LOCCA_DEBUG'):
            raise
        sys.exit(f'{osp.basename(sys.argv[0])}: error: {e}')
