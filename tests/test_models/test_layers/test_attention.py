"""Attention layers: the KV cache, cross-attention over a memory projected once."""
import pytest
import torch

from locca_mm.models.layers import Attention, CrossAttention, KVCache


def test_kv_cache_appends_in_place_and_returns_every_cached_position():
    cache = KVCache()
    k1, v1 = torch.randn(2, 2, 3, 4), torch.randn(2, 2, 3, 4)
    k, v = cache.append(k1, v1, max_len=5)
    assert torch.equal(k, k1) and torch.equal(v, v1) and cache.length == 3
    k2, v2 = torch.randn(2, 2, 1, 4), torch.randn(2, 2, 1, 4)
    k, v = cache.append(k2, v2, max_len=5)
    assert torch.equal(k, torch.cat([k1, k2], 2)) and torch.equal(v, torch.cat([v1, v2], 2))
    with pytest.raises(RuntimeError, match='KV cache full'):
        cache.append(torch.randn(2, 2, 2, 4), torch.randn(2, 2, 2, 4), max_len=5)


def test_kv_cache_reorder_keeps_the_given_rows():
    cache = KVCache()
    k = torch.arange(2.).view(2, 1, 1, 1).expand(2, 1, 1, 2)
    cache.append(k, k, max_len=2)
    cache.reorder(torch.tensor([1, 1]))
    assert cache.k[:, 0, 0, 0].tolist() == [1.0, 1.0]


def test_cached_self_attention_equals_the_full_causal_pass():
    torch.manual_seed(0)
    attn = Attention(8, 2).eval()
    x = torch.randn(2, 5, 8)
    full = attn(x, is_causal=True)
    cache, steps = KVCache(), []
    for t in range(5):
        mask = torch.ones(1, 1, 1, t + 1, dtype=torch.bool)
        steps.append(attn(x[:, t:t + 1], attn_mask=mask, cache=cache, max_len=5))
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-6)


def test_cross_attention_reads_a_memory_of_its_own_width():
    torch.manual_seed(0)
    cross = CrossAttention(8, 12, 2)
    memory = torch.randn(3, 7, 12)
    kv = cross.project_memory(memory)
    assert kv[0].shape == (3, 2, 7, 4)
    assert cross(torch.randn(3, 4, 8), kv).shape == (3, 4, 8)
    fused, plain = cross, CrossAttention(8, 12, 2, fused=False)
    plain.load_state_dict(fused.state_dict())
    q = torch.randn(3, 4, 8)
    assert torch.allclose(fused(q, kv), plain(q, kv), atol=1e-5)


def test_one_bf16_query_on_cpu_takes_the_plain_formula(monkeypatch):
    """KV-cached decoding steps in bf16 on a CPU avoid the slow flash kernel; results agree."""
    import torch.nn.functional as F

    from locca_mm.models.layers.attention import attend
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, n, 8, generator=g).bfloat16() for n in (1, 5, 5))
    expected = F.scaled_dot_product_attention(q.float(), k.float(), v.float())
    calls = []
    original = F.scaled_dot_product_attention
    monkeypatch.setattr(F, 'scaled_dot_product_attention',
                        lambda *a, **kw: calls.append(a[0].shape) or original(*a, **kw))
    out = attend(q, k, v)
    assert calls == [] and out.dtype == torch.bfloat16
    assert (out.float() - expected).abs().max() < 2e-2
    attend(q.float(), k.float(), v.float())  # float32: the fused kernel
    attend(torch.cat([q, q], 2), k, v)  # two queries: the fused kernel
    assert calls == [(2, 3, 1, 8), (2, 3, 2, 8)]
