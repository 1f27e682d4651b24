namespace AttentionGen.CompilerServices;

/// <summary>
/// A small count known when the JIT compiles a method: how many rows or vectors a register block holds. A block is written
/// once with named accumulators guarded by <c>if (T.Count &gt; k)</c>; the JIT folds the guards, so each count compiles
/// to a block of exactly that many accumulators (Gemm's row blocks, the group kernels' rows and P·V vectors).
/// </summary>
internal interface IConstantCount
{
    /// <summary>The count.</summary>
    static abstract int Count { get; }
}

/// <summary>One.</summary>
internal readonly struct Count1 : IConstantCount
{
    public static int Count => 1;
}

/// <summary>Two.</summary>
internal readonly struct Count2 : IConstantCount
{
    public static int Count => 2;
}

/// <summary>Three.</summary>
internal readonly struct Count3 : IConstantCount
{
    public static int Count => 3;
}

/// <summary>Four.</summary>
internal readonly struct Count4 : IConstantCount
{
    public static int Count => 4;
}

/// <summary>Six.</summary>
internal readonly struct Count6 : IConstantCount
{
    public static int Count => 6;
}

/// <summary>Twelve.</summary>
internal readonly struct Count12 : IConstantCount
{
    public static int Count => 12;
}
