namespace AttentionGen;

/// <summary>
/// Places query row <c>i</c> at key position <c>p = i + offset</c> for the causal and sliding-window masks.
/// The two conventions differ whenever <c>queryLength ≠ keyLength</c>, so a kernel must choose one.
/// </summary>
public enum MaskAlignment
{
    /// <summary>Not chosen. A build error with <see cref="AttentionMask.Causal"/> or <see cref="AttentionMask.SlidingWindow"/>.</summary>
    Unspecified = 0,

    /// <summary>
    /// <c>offset = 0</c>: query 0 sits at key 0. PyTorch <c>scaled_dot_product_attention</c>, JAX, and ONNX
    /// <c>Attention</c> without a cache.
    /// </summary>
    TopLeft = 1,

    /// <summary>
    /// <c>offset = valid − queryLength</c>: the last query sits at the last valid key, where <c>valid</c> is
    /// <c>keyLengths[b]</c> with <see cref="AttentionMask.KeyPadding"/> and <c>keyLength</c> otherwise.
    /// FlashAttention, KV-cache decoding, ONNX <c>Attention</c> with <c>nonpad_kv_seqlen</c>.
    /// </summary>
    BottomRight = 2,
}
