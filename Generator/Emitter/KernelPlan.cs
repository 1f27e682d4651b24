using System.Collections.Generic;
using AttentionGen.Generator.Model;

namespace AttentionGen.Generator.Emitter;

/// <summary>
/// The decisions the emitter takes for one configuration: tile sizes, strides, and how each vector width covers
/// the head dimensions. Derived from <see cref="KernelConfiguration"/> alone, so it never needs to be cached.
/// </summary>
internal sealed class KernelPlan
{
    /// <summary>Query rows in one work item: the unit the scheduler hands to a thread.</summary>
    public const int RowsPerItem = 16;

    /// <summary>Keys scored, soft-maxed and accumulated together; a multiple of every vector width.</summary>
    public const int KeyTile = 128;

    /// <summary>
    /// The most rows of one (batch entry, key/value head) that a work item of the cached path takes: enough for the query
    /// heads of a group times a few query positions, so that a tile of keys read once serves all of them.
    /// </summary>
    public const int CachedRowsPerItem = 16;

    /// <summary>
    /// With a Half cache, the most rows of one (batch entry, key/value head) that each widen the halves in registers rather
    /// than share a tile widened into scratch: widening is three operations per vector, cheaper four times over than
    /// a staged tile's store, reload and per-tile overhead.
    /// </summary>
    public const int DirectRows = 4;

    /// <summary>The vector widths the emitter knows, widest first.</summary>
    private static readonly (string Type, int Bits)[] s_widths = { ("Vector512", 512), ("Vector256", 256), ("Vector128", 128) };

    /// <summary>
    /// Keys per score register block, for each width. The block holds one accumulator per key, plus the query vector:
    /// AVX-512 has 32 vector registers, so 16 accumulators leave room to spare; AVX2, SSE and the x64 view of Vector128
    /// have 16, so 12 accumulators, the query and a broadcast temporary fit.
    /// </summary>
    private static int KeyChunk(int bits) => bits == 512 ? 16 : 12;

    public KernelPlan(KernelConfiguration kernel)
    {
        Kernel = kernel;
        bool bshd = kernel.Layout == AttentionLayout.Bshd;
        KeyStride = bshd ? kernel.KvHeads * kernel.HeadDim : kernel.HeadDim;
        ValueStride = bshd ? kernel.KvHeads * kernel.ValueDim : kernel.ValueDim;

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
            blocks.Add(new BlockPath(type, bits / 32, KeyChunk(bits)));
        }

        BlockPaths = blocks;
    }

    public KernelConfiguration Kernel { get; }

    /// <summary>
    /// Keys per tile of the cached path: as many as keep one tile of keys and one of values (widened from Half, when the
    /// cache stores halves) within 16 KiB, half the L1 data cache of current x64 and Arm cores, so that the halves
    /// streaming in do not evict them; a multiple of 16, from 16 to <see cref="KeyTile"/>. Measured with d = 128: a
    /// 32 KiB tile cost a Half cache 40% more time per key than a 16 KiB one.
    /// </summary>
    public int CacheTile => System.Math.Max(16, System.Math.Min(KeyTile, 4096 / (Kernel.HeadDim + Kernel.ValueDim) / 16 * 16));

    /// <summary>Floats between consecutive key rows of one key/value head.</summary>
    public int KeyStride { get; }

    /// <summary>Floats between consecutive value rows of one key/value head.</summary>
    public int ValueStride { get; }

    /// <summary>The vector paths the kernel has, widest first. A width needs both head dims to hold at least one vector.</summary>
    public IReadOnlyList<VectorPath> Paths { get; }

    /// <summary>The widths left out because a head is narrower than one vector.</summary>
    public IReadOnlyList<(string Type, int Lanes)> SkippedPaths { get; }

    /// <summary>The row-block (tiled) paths, widest first. Rows go in lanes, so every width works for every head size.</summary>
    public IReadOnlyList<BlockPath> BlockPaths { get; }

    /// <summary>
    /// Whether row blocks copy each register block's keys into contiguous scratch first. A register block reads one
    /// line from each of its keys at every step; when key rows lie a multiple of 4 KiB apart (Bshd with KvHeads · HeadDim
    /// a multiple of 1024, such as 8 heads of 128), all those lines fall into the same L1 set and evict each other. At
    /// other strides the copy costs more than it saves (measured: d = 64 with a 2 KiB stride ran about 7% slower packed).
    /// Values are never packed: each value line is used once per tile, so they stream from L2 at any stride, and packing
    /// them too pushed the block's scratch out of L1.
    /// </summary>
    public bool PackKeys => KeyStride != Kernel.HeadDim && KeyStride * sizeof(float) % 4096 == 0;

    /// <summary>
    /// Over a Half cache, keys are widened in registers without the factor 2^112 that rebiases a half's exponent, so the
    /// query carries it instead: times Scale · 2^QueryRebiasExponent. That product must stay finite for queries up to
    /// ConfigurationRules.MaxInput (65504 · 2^112 is just below float's largest value), so with a Scale above 1 the
    /// query takes 2^112 / 2^⌈log2 Scale⌉ and each score the remaining 2^⌈log2 Scale⌉.
    /// </summary>
    public int QueryRebiasExponent => Kernel.Scale <= 1 ? 112 : 112 - (int)System.Math.Ceiling(System.Math.Log(Kernel.Scale, 2));

    /// <summary>Floats from one query row of a (batch entry, head) to the next.</summary>
    public int QueryRowStride => Kernel.Layout == AttentionLayout.Bshd ? Kernel.Heads * Kernel.HeadDim : Kernel.HeadDim;

    /// <summary>Floats from one output row of a (batch entry, head) to the next.</summary>
    public int OutputRowStride => Kernel.Layout == AttentionLayout.Bshd ? Kernel.Heads * Kernel.ValueDim : Kernel.ValueDim;
}

/// <summary>
/// A row-block path: <see cref="Lanes"/> query rows at once, one per lane, and score register blocks of
/// <see cref="KeyChunk"/> keys.
/// </summary>
internal sealed record BlockPath(string Type, int Lanes, int KeyChunk)
{
    public string BlockName => "Block" + Type;

    public string ScoreKeysName => "ScoreKeys" + Type;

    public string ScoreKeyName => "ScoreKey" + Type;

    public string AccumulateName => "Accumulate" + Type;

    /// <summary>The fewest rows worth a block of this width; fewer go to the one-row kernels.</summary>
    public int MinimumRows => Lanes / 2;
}

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
