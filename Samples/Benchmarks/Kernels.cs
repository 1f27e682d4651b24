using System;
using AttentionGen;

namespace Benchmarks;

// The kernels under benchmark: H = 8 heads in the head-major layout, as FlashAttention and ONNX (4-D) take them.
// Causal kernels are bottom-right aligned; with queryLength = keyLength, as here, both alignments agree.

[Attention(Heads = 8, HeadDim = 64, Layout = AttentionLayout.Bhsd)]
public static partial class Prefill64;

[Attention(Heads = 8, HeadDim = 64, Mask = AttentionMask.Causal, Alignment = MaskAlignment.BottomRight, Layout = AttentionLayout.Bhsd)]
public static partial class Prefill64Causal;

[Attention(Heads = 8, HeadDim = 128, Layout = AttentionLayout.Bhsd)]
public static partial class Prefill128;

[Attention(Heads = 8, HeadDim = 128, Mask = AttentionMask.Causal, Alignment = MaskAlignment.BottomRight, Layout = AttentionLayout.Bhsd)]
public static partial class Prefill128Causal;

[Attention(Heads = 8, HeadDim = 32, Layout = AttentionLayout.Bhsd)]
public static partial class Prefill32;

[Attention(Heads = 8, HeadDim = 32, Mask = AttentionMask.Causal, Alignment = MaskAlignment.BottomRight, Layout = AttentionLayout.Bhsd)]
public static partial class Prefill32Causal;

// The same shapes in the token-major layout (what a projection produces), to show what the layout costs.

[Attention(Heads = 8, HeadDim = 32)]
public static partial class Prefill32Bshd;

[Attention(Heads = 8, HeadDim = 32, Mask = AttentionMask.Causal, Alignment = MaskAlignment.BottomRight)]
public static partial class Prefill32CausalBshd;

[Attention(Heads = 8, HeadDim = 64)]
public static partial class Prefill64Bshd;

[Attention(Heads = 8, HeadDim = 64, Mask = AttentionMask.Causal, Alignment = MaskAlignment.BottomRight)]
public static partial class Prefill64CausalBshd;

[Attention(Heads = 8, HeadDim = 128)]
public static partial class Prefill128Bshd;

[Attention(Heads = 8, HeadDim = 128, Mask = AttentionMask.Causal, Alignment = MaskAlignment.BottomRight)]
public static partial class Prefill128CausalBshd;

/// <summary>The prefill kernel of a layout, head size and mask: 8 heads, one batch entry, N queries against N keys.</summary>
public static class PrefillKernels
{
    public static void Forward(AttentionLayout layout, int headDim, bool causal, float[] q, float[] k, float[] v, float[] o, int n)
    {
        switch (layout, headDim, causal)
        {
            case (AttentionLayout.Bhsd, 32, false): Prefill32.Forward(q, k, v, o, 1, n, n); break;
            case (AttentionLayout.Bhsd, 32, true): Prefill32Causal.Forward(q, k, v, o, 1, n, n); break;
            case (AttentionLayout.Bhsd, 64, false): Prefill64.Forward(q, k, v, o, 1, n, n); break;
            case (AttentionLayout.Bhsd, 64, true): Prefill64Causal.Forward(q, k, v, o, 1, n, n); break;
            case (AttentionLayout.Bhsd, 128, false): Prefill128.Forward(q, k, v, o, 1, n, n); break;
            case (AttentionLayout.Bhsd, 128, true): Prefill128Causal.Forward(q, k, v, o, 1, n, n); break;
            case (AttentionLayout.Bshd, 32, false): Prefill32Bshd.Forward(q, k, v, o, 1, n, n); break;
            case (AttentionLayout.Bshd, 32, true): Prefill32CausalBshd.Forward(q, k, v, o, 1, n, n); break;
            case (AttentionLayout.Bshd, 64, false): Prefill64Bshd.Forward(q, k, v, o, 1, n, n); break;
            case (AttentionLayout.Bshd, 64, true): Prefill64CausalBshd.Forward(q, k, v, o, 1, n, n); break;
            case (AttentionLayout.Bshd, 128, false): Prefill128Bshd.Forward(q, k, v, o, 1, n, n); break;
            case (AttentionLayout.Bshd, 128, true): Prefill128CausalBshd.Forward(q, k, v, o, 1, n, n); break;
            default: throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "The benchmarks declare head sizes 32, 64 and 128.");
        }
    }
}

// Decoding: one new token's 8 query heads against a KV cache of 8 key/value heads of 128, causal as in an LLM.

[Attention(Heads = 8, HeadDim = 128, Mask = AttentionMask.Causal, Alignment = MaskAlignment.BottomRight)]
public static partial class Decode128;

// Grouped-query decoding, as Llama 3 8B: 32 query heads sharing 8 key/value heads of 128.

[Attention(Heads = 32, KvHeads = 8, HeadDim = 128, Mask = AttentionMask.Causal, Alignment = MaskAlignment.BottomRight)]
public static partial class Decode128Gqa;

// The encoder shapes of the peer comparison: BERT-base's 12 heads of 64, and all-MiniLM-L6-v2's 12 heads of 32 with padding.

[Attention(Heads = 12, HeadDim = 64)]
public static partial class BertBaseAttention;

[Attention(Heads = 12, HeadDim = 32, Mask = AttentionMask.KeyPadding)]
public static partial class MiniLmShapeAttention;
