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

// The same shapes in the token-major layout (what a projection produces), to show what the layout costs.

[Attention(Heads = 8, HeadDim = 64)]
public static partial class Prefill64Bshd;

[Attention(Heads = 8, HeadDim = 128)]
public static partial class Prefill128Bshd;

// Decoding: one new token's 8 query heads against a KV cache of 8 key/value heads of 128, causal as in an LLM.

[Attention(Heads = 8, HeadDim = 128, Mask = AttentionMask.Causal, Alignment = MaskAlignment.BottomRight)]
public static partial class Decode128;
