namespace AttentionGen;

/// <summary>How a <see cref="KvCache"/> stores its keys and values.</summary>
public enum KvCachePrecision
{
    /// <summary>32-bit floats: values are kept exactly as appended.</summary>
    Single,

    /// <summary>
    /// IEEE 754 half-precision floats: half the memory and half the bytes each decoding step reads. Values are rounded
    /// to the nearest half when appended and widened back to float inside the kernel.
    /// </summary>
    Half,
}

/// <summary>What a <see cref="KvCache"/> does when an append does not fit.</summary>
public enum KvCacheOverflow
{
    /// <summary>The append throws an <see cref="System.InvalidOperationException"/> and the cache is left as it was.</summary>
    Throw,

    /// <summary>
    /// The cache is a ring: it keeps the last <see cref="KvCache.Capacity"/> tokens of each batch entry and evicts the
    /// oldest. Meant for models declared with <see cref="AttentionMask.SlidingWindow"/>, whose queries never look further
    /// back than the window.
    /// </summary>
    EvictOldest,
}
