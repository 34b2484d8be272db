"""text_to_label: region texts to dataset categories."""
from locca_mm.evaluation import text_to_label


def test_text_to_label():
    classes = ('circle', 'square', 'red square', 'traffic light')
    assert text_to_label('a circle', classes) == 0
    assert text_to_label('The Red square.', classes) == 2  # exact (articles, case ignored)
    assert text_to_label('big red square on the left', classes) == 2  # longest contained name
    assert text_to_label('a traffic light pole', classes) == 3
    assert text_to_label('squares everywhere', classes) is None  # whole words only
