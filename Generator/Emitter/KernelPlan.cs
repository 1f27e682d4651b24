using System.Collections.Generic;
using AttentionGen.Generator.Model;

namespace AttentionGen.Generator.Emitter;

/// <summary>
/// The decisions the emitter takes for one configuration: which vector widths get one-row kernels, and how each
/// covers the head dimensions. The tile sizes are KernelTiles', shared with the runtime. Derived from <see cref="KernelConfiguration"/> alone, so it never needs to be cached.
/// </summary>
internal sealed class KernelPlan
{
    /// <summary>The vector widths the emitter knows, widest first.</summary>
    private static readonly (string Type, int Bits)[] s_widths = { ("Vector512", 512), ("Vector256", 256), ("Vector128", 128) };

    public KernelPlan(KernelConfiguration kernel)
    {
        Kernel = kernel;
        var paths = new List<VectorPath>();
        var skipped = new List<(string Type, int Lanes)>();
        foreach ((string type, int bits) in s_widths)
        {
            int lanes = bits / 32;
            if (kernel.HeadDim >= lanes && kernel.ValueDim >= lanes)
            {
                paths.Add(new VectorPath(type, bits, lanes, new Chunks(kernel.HeadDim, lanes), new Chunks(kernel.ValueDim, lanes)));
            }
            else
            {
                skipped.Add((type, lanes));
            }
        }

        Paths = paths;
        SkippedPaths = skipped;

        var blocks = new List<BlockPath>();
        foreach ((string type, int bits) in s_widths)
        {
            blocks.Add(new BlockPath(type, bits / 32));
        }

        BlockPaths = blocks;
    }

    public KernelConfiguration Kernel { get; }

    /// <summary>The vector paths the kernel has, widest first. A width needs both head dims to hold at least one vector.</summary>
    public IReadOnlyList<VectorPath> Paths { get; }

    /// <summary>The widths left out because a head is narrower than one vector.</summary>
    public IReadOnlyList<(string Type, int Lanes)> SkippedPaths { get; }

    /// <summary>The row-block (tiled) paths, widest first. Rows go in lanes, so every width works for every head size.</summary>
    public IReadOnlyList<BlockPath> BlockPaths { get; }

    /// <summary>
    /// Over a Half cache, keys are widened in registers without the factor 2^112 that rebiases a half's exponent, so the
    /// query carries it instead: times Scale · 2^QueryRebiasExponent. That product must stay finite for queries up to
    /// ConfigurationRules.MaxInput (65504 · 2^112 is just below float's largest value), so with a Scale above 1 the
    /// query takes 2^112 / 2^⌈log2 Scale⌉ and each score the remaining 2^⌈log2 Scale⌉.
    /// </summary>
    public int QueryRebiasExponent => Kernel.Scale <= 1 ? 112 : 112 - (int)System.Math.Ceiling(System.Math.Log(Kernel.Scale, 2));
}

/// <summary>A row-block path: up to <see cref="Lanes"/> query rows at once, one per lane.</summary>
internal sealed record BlockPath(string Type, int Lanes);

/// <summary>One vector width, and how it covers the query/key and value heads.</summary>
internal sealed record VectorPath(string Type, int Bits, int Lanes, Chunks Head, Chunks Value)
{
    /// <summary>The row method's name, such as <c>RowVector512</c>.</summary>
    public string MethodName => "Row" + Type;
}

/// <summary>
/// How a head of <see cref="Dim"/> floats splits into vectors of <see cref="Lanes"/> floats: whole vectors from
/// the start, and when the dim is not a multiple of the width, one last vector that ends at the last float and
/// overlaps the one before it by <see cref="Overlap"/> lanes.
/// </summary>
internal sealed class Chunks
{
    public Chunks(int dim, int lanes)
    {
        Dim = dim;
        Lanes = lanes;
        int whole = dim / lanes;
        var offsets = new List<int>();
        for (int i = 0; i < whole; i++)
        {
            offsets.Add(i * lanes);
        }

        int remainder = dim % lanes;
        if (remainder != 0)
        {
            offsets.Add(dim - lanes);
            Overlap = lanes - remainder;
        }

        Offsets = offsets;
    }

    public int Dim { get; }

    public int Lanes { get; }

    /// <summary>Where each vector starts, in floats from the start of the head.</summary>
    public IReadOnlyList<int> Offsets { get; }

    public int Count => Offsets.Count;

    /// <summary>How many leading lanes of the last vector the previous vector already covers; 0 when none.</summary>
    public int Overlap { get; }
}
