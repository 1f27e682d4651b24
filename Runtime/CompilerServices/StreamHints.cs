namespace AttentionGen.CompilerServices;

/// <summary>
/// Whether a decoding kernel asks for the cache's rows ahead of the ones it computes, as it does on Intel cores
/// (<see cref="KernelMath.PrefetchRowStreams"/>): the group kernels <see cref="KernelTiles.PrefetchFarKeys"/> keys ahead
/// into L2, the one-row kernels that and <see cref="KernelTiles.PrefetchKeys"/> keys ahead into L1. A type argument
/// rather than a flag, so that the JIT compiles each kernel with the hints or without them, and neither copy tests
/// anything per key.
/// </summary>
internal interface IStreamHints
{
    /// <summary>Whether the hints are given.</summary>
    static abstract bool Enabled { get; }
}

/// <summary>With the hints.</summary>
internal readonly struct WithStreamHints : IStreamHints
{
    public static bool Enabled => true;
}

/// <summary>Without them.</summary>
internal readonly struct WithoutStreamHints : IStreamHints
{
    public static bool Enabled => false;
}
