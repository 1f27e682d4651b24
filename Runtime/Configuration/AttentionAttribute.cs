using System;

namespace AttentionGen;

/// <summary>
/// Asks the Attention.Gen source generator to emit a specialized attention kernel into the annotated
/// partial type: a static <c>Forward</c> method and the constants <c>Heads</c>, <c>KvHeads</c>,
/// <c>HeadDim</c> and <c>ValueDim</c>.
/// </summary>
/// <remarks>
/// <para>
/// Every property is a compile-time constant of the kernel. A declaration that cannot work (for example a
/// <see cref="KvHeads"/> that does not divide <see cref="Heads"/>) is reported as a build error with an
/// <c>ATTN</c> diagnostic; nothing is checked late or silently changed at run time.
/// </para>
/// <para>
/// Semantics follow the ONNX <c>Attention</c> operator: <c>score = Scale * (q · k)</c>, optionally
/// soft-capped, masked, then a softmax with the running maximum subtracted, and <c>output = Σ p_j · v_j</c>.
/// A query row that sees no key at all produces zeros.
/// </para>
/// </remarks>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Struct, AllowMultiple = false, Inherited = false)]
public sealed class AttentionAttribute : Attribute
{
    /// <summary>Number of query heads. Must be positive.</summary>
    public int Heads { get; set; }

    /// <summary>
    /// Number of key/value heads. 0 (the default) means <see cref="Heads"/> (multi-head attention).
    /// Must divide <see cref="Heads"/>: query head <c>h</c> reads key/value head <c>h / (Heads / KvHeads)</c>
    /// (grouped-query attention; 1 is multi-query attention).
    /// </summary>
    public int KvHeads { get; set; }

    /// <summary>Size of each query and key head vector, from 1 to 512.</summary>
    public int HeadDim { get; set; }

    /// <summary>Size of each value and output head vector, from 1 to 512. 0 (the default) means <see cref="HeadDim"/>.</summary>
    public int ValueDim { get; set; }

    /// <summary>Which keys each query may see. Flags combine; the default is <see cref="AttentionMask.None"/>.</summary>
    public AttentionMask Mask { get; set; }

    /// <summary>
    /// Where query row <c>i</c> sits among the keys, for <see cref="AttentionMask.Causal"/> and
    /// <see cref="AttentionMask.SlidingWindow"/>. Required by both; not allowed without them.
    /// </summary>
    public MaskAlignment Alignment { get; set; }

    /// <summary>With <see cref="AttentionMask.SlidingWindow"/>: how many keys before the query position are visible.</summary>
    public int WindowLeft { get; set; }

    /// <summary>With <see cref="AttentionMask.SlidingWindow"/>: how many keys after the query position are visible.</summary>
    public int WindowRight { get; set; }

    /// <summary>Factor applied to <c>q · k</c>. 0 (the default) means <c>1 / sqrt(HeadDim)</c>.</summary>
    public float Scale { get; set; }

    /// <summary>
    /// Soft cap <c>c</c>: when positive, each score becomes <c>c · tanh(score / c)</c> before any mask is applied.
    /// 0 (the default) turns it off.
    /// </summary>
    public float Softcap { get; set; }

    /// <summary>Memory layout of the query, key, value and output tensors. The default is <see cref="AttentionLayout.Bshd"/>.</summary>
    public AttentionLayout Layout { get; set; }
}
