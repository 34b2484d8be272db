"""The documentation holds together: every relative link in README.md, docs/**/*.md and
configs/**/README.md resolves to an existing file (and, for ``file.md#anchor``, to a heading
with that GitHub anchor), README.md stays short, and every page is reachable from it."""
import glob
import os.path as osp
import re
import unicodedata
from typing import Iterator, List, Set, Tuple
from urllib.parse import unquote

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MAX_README_LINES = 300
IGNORED_SCHEMES = ('http://', 'https://', 'mailto:')

FENCE = re.compile(r'^ {0,3}(`{3,}|~{3,})')
CODE_SPAN = re.compile(r'(`+)(?:(?!\1).)+?\1')
HTML_COMMENT = re.compile(r'<!--.*?-->')
# [text](target "title") and ![alt](target); the text may hold one level of brackets.
INLINE_LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)')
REFERENCE_DEF = re.compile(r'^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$')
ATX_HEADING = re.compile(r'^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$')


def doc_files() -> List[str]:
    """README.md, every page under docs/ and every README.md under configs/."""
    files = [osp.join(ROOT, 'README.md')]
    files += glob.glob(osp.join(ROOT, 'docs', '**', '*.md'), recursive=True)
    files += glob.glob(osp.join(ROOT, 'configs', '**', 'README.md'), recursive=True)
    return sorted(files)


def prose_lines(text: str) -> Iterator[Tuple[int, str]]:
    """(line number, line) outside fenced code blocks, code spans and HTML comments removed."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
            continue
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
            continue
        yield number, HTML_COMMENT.sub('', CODE_SPAN.sub('', line))


def extract_links(text: str) -> List[Tuple[int, str]]:
    """The link targets of a markdown text, with their line numbers."""
    found = []
    for number, line in prose_lines(text):
        found += [(number, m.group(1)) for m in INLINE_LINK.finditer(line)]
        ref = REFERENCE_DEF.match(line)
        if ref:
            found.append((number, ref.group(1)))
    return found


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: the text of its links and code kept, lower-cased,
    every character but letters, digits, '_', '-' and spaces dropped, spaces made '-'."""
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', heading.strip())
    text = text.lower()
    kept = (c for c in text if c in ' -_' or unicodedata.category(c)[0] in 'LNM')
    return ''.join(kept).replace(' ', '-')


def anchors(path: str) -> Set[str]:
    """Every heading anchor of a markdown file (repeats numbered -1, -2, ... as GitHub does)."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    seen, result = {}, set()
    fence = None
    for line in text.splitlines():
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
            continue
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
            continue
        heading = ATX_HEADING.match(line)
        if heading:
            anchor = github_anchor(heading.group(1))
            count = seen.get(anchor, 0)
            seen[anchor] = count + 1
            result.add(anchor if count == 0 else f'{anchor}-{count}')
    return result


def broken_links(path: str) -> List[str]:
    """'file:line: target (why)' for each relative link of ``path`` that does not resolve."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    problems = []
    for number, target in extract_links(text):
        if not target or target.lower().startswith(IGNORED_SCHEMES):
            continue
        where = f'{osp.relpath(path, ROOT)}:{number}: {target}'
        file_part, _, anchor = target.partition('#')
        resolved = osp.normpath(osp.join(osp.dirname(path), unquote(file_part))) \
            if file_part else path
        if not osp.exists(resolved):
            problems.append(f'{where} (no such file)')
        elif anchor and resolved.endswith('.md') and anchor not in anchors(resolved):
            problems.append(f'{where} (no heading with anchor #{anchor})')
    return problems


@pytest.mark.parametrize('path', doc_files(), ids=lambda p: osp.relpath(p, ROOT))
def test_relative_links_resolve(path):
    assert broken_links(path) == []


def test_readme_is_short():
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        lines = f.read().splitlines()
    assert len(lines) <= MAX_README_LINES, f'README.md has {len(lines)} lines'


def linked_files(path: str) -> Set[str]:
    with open(path, encoding='utf-8') as f:
        targets = [t for _, t in extract_links(f.read())]
    return {osp.normpath(osp.join(osp.dirname(path), t.partition('#')[0]))
            for t in targets if t and not t.lower().startswith(IGNORED_SCHEMES)}


@pytest.mark.parametrize('index', ['README.md', 'docs/en/index.md'])
def test_every_page_is_linked(index):
    """README's "Documentation" list and the docs' table of contents name every page and
    every configs/ README."""
    pages = set(doc_files()) - {osp.join(ROOT, 'README.md'), osp.join(ROOT, index)}
    missing = pages - linked_files(osp.join(ROOT, index))
    assert not missing, sorted(osp.relpath(p, ROOT) for p in missing)


def test_every_config_folder_has_a_readme():
    folders = [d for d in glob.glob(osp.join(ROOT, 'configs', '*', ''))
               if osp.basename(osp.dirname(d)) != '_base_']
    assert folders
    assert [d for d in folders if not osp.isfile(osp.join(d, 'README.md'))] == []


def test_link_extractor_skips_code():
    text = ('See [a](a.md), ![fig](img/f.png "title") and [b][ref].\n'
            '`[not](code.md)` and <!-- [not](comment.md) -->\n'
            '```\n[not](fenced.md)\n```\n'
            '[ref]: docs/b.md#part\n')
    assert extract_links(text) == [(1, 'a.md'), (1, 'img/f.png'), (6, 'docs/b.md#part')]


def test_github_anchor():
    assert github_anchor("REC with the whole model fine-tuned (the paper's Table 1)") == \
        'rec-with-the-whole-model-fine-tuned-the-papers-table-1'
    assert github_anchor('COCO detection by the decoder (`detect_seq`)') == \
        'coco-detection-by-the-decoder-detect_seq'
    assert github_anchor('mmengine 0.10.7 on recent torch') == 'mmengine-0107-on-recent-torch'
    assert github_anchor('The table: encoders × tasks') == 'the-table-encoders--tasks'
    assert github_anchor('[Data](data.md) in full') == 'data-in-full'


def test_broken_links_are_reported(tmp_path):
    (tmp_path / 'target.md').write_text('# A heading\n\n## Same\n\n## Same\n', encoding='utf-8')
    page = tmp_path / 'page.md'
    page.write_text('[ok](target.md) [ok](target.md#a-heading) [ok](target.md#same-1)\n'
                    '[web](https://example.org/x) [mail](mailto:a@b.c) [here](#top)\n'
                    '# Top\n'
                    '[gone](missing.md)\n'
                    '[bad anchor](target.md#no-such-heading)\n', encoding='utf-8')
    problems = broken_links(str(page))
    assert len(problems) == 2, problems
    assert problems[0].endswith(':4: missing.md (no such file)')
    assert problems[1].endswith(':5: target.md#no-such-heading (no heading with anchor '
                                '#no-such-heading)')
