using System;

namespace AttentionGen;

/// <summary>Which keys a query row may attend to. Flags combine: a key is visible only if every selected rule allows it.</summary>
[Flags]
public enum AttentionMask
{
    /// <summary>Every key is visible.</summary>
    None = 0,

    /// <summary>Key <c>j</c> is visible only if <c>j ≤ p</c>, where <c>p</c> is the query's position (see <see cref="MaskAlignment"/>).</summary>
    Causal = 1,

    /// <summary>
    /// Key <c>j</c> is visible only if <c>p − WindowLeft ≤ j ≤ p + WindowRight</c>
    /// (see <see cref="AttentionAttribute.WindowLeft"/> and <see cref="AttentionAttribute.WindowRight"/>).
    /// </summary>
    SlidingWindow = 2,

    /// <summary>
    /// Each batch entry has its own number of valid keys: key <c>j</c> of entry <c>b</c> is visible only if
    /// <c>j &lt; keyLengths[b]</c>. <c>Forward</c> takes a <c>keyLengths</c> argument.
    /// </summary>
    KeyPadding = 4,

    /// <summary>
    /// An explicit mask tensor, additive or boolean, broadcast to <c>[batch, Heads, queryLength, keyLength]</c>
    /// the way ONNX broadcasts <c>attn_mask</c>. <c>Forward</c> takes an <see cref="ExplicitMask"/> argument.
    /// </summary>
    Explicit = 8,
}
