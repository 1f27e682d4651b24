using System.Runtime.CompilerServices;

namespace AttentionGen.CompilerServices;

/// <summary>
/// Where consecutive key and value rows of one key/value head lie, for the kernels that read them. The row-block
/// kernels are generic over it, so each is compiled once per source with the strides as constants.
/// </summary>
internal interface IKeyValueRows
{
    /// <summary>Floats from one key row to the next.</summary>
    static abstract int KeyStride { get; }

    /// <summary>Floats from one value row to the next.</summary>
    static abstract int ValueStride { get; }

    /// <summary>
    /// Whether row blocks copy each register block's keys into consecutive rows before scoring them. A register block
    /// reads one line from each of its keys at every step; when key rows lie a multiple of 4 KiB apart (Bshd with
    /// KvHeads · HeadDim a multiple of 1024, such as 8 heads of 128), all those lines fall into the same L1 set and
    /// evict each other. At other strides the copy costs more than it saves (measured: d = 64 with a 2 KiB stride ran
    /// about 7% slower packed). Values are never packed: each value line is used once per tile, so they stream from L2
    /// at any stride, and packing them too pushed the block's scratch out of L1.
    /// </summary>
    static abstract bool PackKeys { get; }
}

/// <summary>The key and value tensors passed to <c>Forward</c>, in <typeparamref name="TKernel"/>'s layout.</summary>
internal readonly struct TensorRows<TKernel> : IKeyValueRows
    where TKernel : IAttentionKernel
{
    /// <summary>KvHeads · HeadDim in the Bshd layout, where the key/value heads of a token are interleaved; HeadDim in Bhsd.</summary>
    public static int KeyStride
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => TKernel.Layout == AttentionLayout.Bshd ? TKernel.KvHeads * TKernel.HeadDim : TKernel.HeadDim;
    }

    /// <summary>KvHeads · ValueDim in the Bshd layout; ValueDim in Bhsd.</summary>
    public static int ValueStride
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => TKernel.Layout == AttentionLayout.Bshd ? TKernel.KvHeads * TKernel.ValueDim : TKernel.ValueDim;
    }

    /// <inheritdoc/>
    public static bool PackKeys
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => KeyStride != TKernel.HeadDim && KeyStride * sizeof(float) % 4096 == 0;
    }
}

/// <summary>A <see cref="KvCache"/> of floats: each key/value head's slots are consecutive rows of HeadDim and ValueDim floats.</summary>
internal readonly struct CacheRows<TKernel> : IKeyValueRows
    where TKernel : IAttentionKernel
{
    /// <summary>HeadDim.</summary>
    public static int KeyStride
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => TKernel.HeadDim;
    }

    /// <summary>ValueDim.</summary>
    public static int ValueStride
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => TKernel.ValueDim;
    }

    /// <summary>False: consecutive rows need no packing.</summary>
    public static bool PackKeys
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => false;
    }
}
