"""Region texts to dataset categories (for scoring grounded captions as detection)."""
import re
from typing import Optional, Sequence

_ARTICLE = re.compile(r'^(?:a|an|the|one|two|some)\s+')


def _norm(text: str) -> str:
    text = re.sub(r'[^a-z0-9 ]+', ' ', text.lower()).strip()
    text = _ARTICLE.sub('', text)
    return re.sub(r'\s+', ' ', text)


def text_to_label(text: str, classes: Sequence[str]) -> Optional[int]:
    """The class a region text names: an exact match (articles and case ignored),
    else the longest class name contained in the text as whole words, else None."""
    t = _norm(text)
    names = [_norm(c) for c in classes]
    if t in names:
        return names.index(t)
    best, best_len = None, 0
    for i, name in enumerate(names):
        if name and re.search(rf'\b{re.escape(name)}\b', t) and len(name) > best_len:
            best, best_len = i, len(name)
    return best
