using System;

namespace AttentionGen;

/// <summary>
/// Makes an <see cref="AttentionAttribute"/> declaration a whole multi-head attention layer: the generator adds a nested
/// <c>Layer</c> class that holds the projections W_q, W_k, W_v and W_o (each with an optional bias) around the kernel.
/// A layer projects queries, keys and values (in one fused pass for self-attention), runs the kernel on the
/// projections in the Bshd layout, and projects its output, with masking by valid lengths when the kernel has
/// <see cref="AttentionMask.KeyPadding"/>.
/// </summary>
/// <remarks>
/// The sizes are those of the d2l <c>MultiHeadAttention</c>: W_q maps <see cref="QuerySize"/> to Heads · HeadDim, W_k
/// maps <see cref="KeySize"/> to KvHeads · HeadDim, W_v maps <see cref="ValueSize"/> to KvHeads · ValueDim, and W_o
/// maps Heads · ValueDim to <see cref="OutputSize"/>. The kernel's layout must be <see cref="AttentionLayout.Bshd"/>,
/// the layout projections produce.
/// </remarks>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Struct, AllowMultiple = false, Inherited = false)]
public sealed class AttentionProjectionsAttribute : Attribute
{
    /// <summary>Size of a query input row. Must be positive.</summary>
    public int QuerySize { get; set; }

    /// <summary>Size of a key input row. 0 (the default) means <see cref="QuerySize"/>.</summary>
    public int KeySize { get; set; }

    /// <summary>Size of a value input row. 0 (the default) means <see cref="KeySize"/>.</summary>
    public int ValueSize { get; set; }

    /// <summary>Size of an output row. 0 (the default) means <see cref="QuerySize"/>.</summary>
    public int OutputSize { get; set; }

    /// <summary>Whether each projection adds a bias. The default is <see langword="true"/>.</summary>
    public bool Bias { get; set; } = true;
}
