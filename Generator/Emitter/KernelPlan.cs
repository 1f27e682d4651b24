using System.Collections.Generic;
using AttentionGen.Generator.Model;

namespace AttentionGen.Generator.Emitter;

/// <summary>
/// The decisions the emitter takes for one configuration: which register blocks it writes and how they cover the head
/// dims, and what the kernel explanation says about the paths the runtime picks at JIT time. Derived from
/// <see cref="KernelConfiguration"/> alone, so it never needs to be cached. The tile sizes are
/// <see cref="KernelTiles"/>', shared with the runtime, which reads them too.
/// </summary>
internal sealed class KernelPlan
{
    /// <summary>The vector widths the runtime knows, widest first, with their lanes.</summary>
    private static readonly (string Type, int Lanes)[] s_widths = { ("Vector512", 16), ("Vector256", 8), ("Vector128", 4) };

    public KernelPlan(KernelConfiguration kernel)
    {
        Kernel = kernel;
        RegisterBlocks = new[]
        {
            new RegisterBlock(KernelTiles.WideRegisterBlock, "a 32-register file", "AVX-512, or Arm64", kernel.ValueDim / KernelTiles.WideRegisterBlock * KernelTiles.WideRegisterBlock),
            new RegisterBlock(KernelTiles.NarrowRegisterBlock, "a 16-register file", "AVX2, AVX or SSE", kernel.ValueDim / KernelTiles.NarrowRegisterBlock * KernelTiles.NarrowRegisterBlock),
        };
        PairedBlock = new RegisterBlock(
            KernelTiles.PairedRegisterBlock, "rows in pairs of vectors", "AVX-512 with more than 16 rows; AVX2, AVX and SSE",
            kernel.ValueDim / KernelTiles.PairedRegisterBlock * KernelTiles.PairedRegisterBlock);

        var oneRow = new List<(string Type, int Lanes)>();
        foreach ((string type, int lanes) in s_widths)
        {
            if (kernel.HeadDim >= lanes && kernel.ValueDim >= lanes)
            {
                oneRow.Add((type, lanes));
            }
        }

        OneRowWidths = oneRow;
    }

    public KernelConfiguration Kernel { get; }

    /// <summary>The row-block widths, widest first: rows go in lanes, so every width works for every head size.</summary>
    public IReadOnlyList<(string Type, int Lanes)> RowBlockWidths => s_widths;

    /// <summary>
    /// The Q·Kᵀ and P·V register blocks, one per register-file size; the runtime picks one at JIT time
    /// (<c>ISimd.HasWideRegisterFile</c>). A block holds one accumulator per key (or value element), plus the query
    /// (or probability) vector and a broadcast temporary.
    /// </summary>
    public IReadOnlyList<RegisterBlock> RegisterBlocks { get; }

    /// <summary>The 32-register block, whose Arm64 forms (by lane) the emitter also writes.</summary>
    public RegisterBlock WideBlock => RegisterBlocks[0];

    /// <summary>
    /// The Q·Kᵀ and P·V register blocks where each row vector is a pair of vectors (32 rows with AVX-512, 16 on AVX2): one
    /// accumulator pair per key or value element, each broadcast feeding both halves.
    /// </summary>
    public RegisterBlock PairedBlock { get; }

    /// <summary>Independent chains of multiply-adds in the single-key Q·Kᵀ, so consecutive ones do not wait on each other.</summary>
    public int ScoreKeyChains => System.Math.Min(4, Kernel.HeadDim);

    /// <summary>The head elements the single-key Q·Kᵀ covers with all its chains; the rest go into the first chain.</summary>
    public int ScoreKeyWhole => Kernel.HeadDim / ScoreKeyChains * ScoreKeyChains;

    /// <summary>
    /// The widths whose one-row kernel the runtime can use: a vector must fit in both heads. The runtime takes the widest
    /// accelerated one, else the scalar kernel.
    /// </summary>
    public IReadOnlyList<(string Type, int Lanes)> OneRowWidths { get; }
}

/// <summary>
/// A register block of <see cref="Size"/> keys (Q·Kᵀ) or value elements (P·V), for <see cref="RegisterFile"/>, which
/// <see cref="InstructionSets"/> have. P·V walks the first <see cref="ValueWhole"/> value elements a whole block at a
/// time, then one smaller block for the rest.
/// </summary>
internal sealed record RegisterBlock(int Size, string RegisterFile, string InstructionSets, int ValueWhole);
