namespace AttentionGen.CompilerServices;

/// <summary>
/// Whether a group kernel also asks for the cache's rows <see cref="KernelTiles.PrefetchFarKeys"/> keys ahead into L2, as
/// it does on Intel cores (<see cref="KernelMath.PrefetchRowStreams"/>). A type argument rather than a flag, so that the
/// JIT compiles each kernel with the hints or without them, and neither copy tests anything per key.
/// </summary>
internal interface IFarHints
{
    /// <summary>Whether the hints are given.</summary>
    static abstract bool Enabled { get; }
}

/// <summary>With the hints into L2.</summary>
internal readonly struct WithFarHints : IFarHints
{
    public static bool Enabled => true;
}

/// <summary>Without them.</summary>
internal readonly struct WithoutFarHints : IFarHints
{
    public static bool Enabled => false;
}
