"""bf16 mixed precision on CPU (what train.py --amp runs) follows the fp32 loss curve."""
import pytest
import torch
from mmengine.optim import OptimWrapper

from locca_mm.engine import AutocastOptimWrapper
from tests.test_models.utils import LOCCA_TINY, build_tiny, make_batch

#: Largest relative difference of the bf16 and fp32 loss curves allowed over 12 AdamW steps
#: of a tiny LocCa (measured 9.3e-5; the weights and the optimizer stay in fp32, only the
#: autocast matrix products run in bf16).
TOLERANCE = 2e-3


def _curve(wrapper_cls, steps: int = 12):
    model = build_tiny(LOCCA_TINY, seed=0)
    model.train()
    wrapper = wrapper_cls(optimizer=torch.optim.AdamW(model.parameters(), lr=1e-3))
    batch = make_batch(model, n=6)
    losses = []
    for _ in range(steps):
        torch.manual_seed(0)  # the same parallel-prediction rows in both runs
        with wrapper.optim_context(model):
            parts = model(**batch, mode='loss')
        loss = sum(v for k, v in parts.items() if 'loss' in k)
        wrapper.update_params(loss)
        losses.append(float(loss.detach()))
    return torch.tensor(losses)


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU bf16 path')
def test_bf16_loss_curve_follows_fp32():
    fp32, bf16 = _curve(OptimWrapper), _curve(AutocastOptimWrapper)
    assert fp32[-1] < 0.95 * fp32[0]  # it learns
    rel = ((bf16 - fp32).abs() / fp32).max().item()
    assert rel < TOLERANCE, f'bf16 vs fp32 loss curves differ by {rel:.4f} (relative)'
    assert not torch.equal(bf16, fp32)  # bf16 really ran
