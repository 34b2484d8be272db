"""tools/benchmark.py prints one JSON object with the measured keys (values are not judged)."""
import json

from tests.conftest import run_tool


def test_benchmark_data_quick_emits_json():
    proc = run_tool(['benchmark.py', '--data', '--quick'])
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    rates = result['samples_per_s_per_worker']
    assert set(rates) == {'shapes_64px', 'jpeg_640x480_to_224px'}
    assert all(v > 0 for v in rates.values())
    assert result['device'] in ('cpu', 'cuda')
