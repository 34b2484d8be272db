"""AutocastOptimWrapper: mixed precision that also runs on a CPU."""
import pytest
import torch

from locca_mm.engine import AutocastOptimWrapper


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU fallback')
def test_cpu_autocasts_to_bfloat16_and_steps():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    wrapper = AutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    before = model.weight.detach().clone()
    with wrapper.optim_context(model):
        out = model(torch.randn(3, 4))
        assert out.dtype == torch.bfloat16  # matmuls run in bf16 under CPU autocast
    wrapper.update_params(out.float().pow(2).mean())
    assert not torch.equal(before, model.weight)
    assert model.weight.dtype == torch.float32  # master weights stay fp32
    state = wrapper.state_dict()
    wrapper.load_state_dict(state)


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU fallback')
def test_cpu_rejects_float16():
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match='bfloat16'):
        AutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                             dtype='float16')
