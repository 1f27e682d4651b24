using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace AttentionGen.CompilerServices;

/// <summary>
/// Whether a kernel instantiation writes more than the output (<see cref="RowOutputs"/>): a JIT-time constant, so the
/// plain <c>Forward</c> compiles without a trace of the code that writes attention weights or log-sum-exps.
/// </summary>
internal interface IRowExtras
{
    static abstract bool Enabled { get; }
}

/// <summary>Only the output.</summary>
internal readonly struct OutputOnly : IRowExtras
{
    public static bool Enabled => false;
}

/// <summary>The output and the <see cref="RowOutputs"/> the call asked for.</summary>
internal readonly struct WithRowOutputs : IRowExtras
{
    public static bool Enabled => true;
}

/// <summary>
/// Where a block of consecutive query rows of one (batch entry, head) writes its attention weights and its
/// log-sum-exps, besides the output: row r's weights at <c>Weights + r · KeyLength</c>, its log-sum-exp at
/// <c>LogSumExp + r</c>. A null reference is an output the call did not ask for.
/// </summary>
internal readonly ref struct RowOutputs
{
    /// <summary>The first row's weights, <see cref="KeyLength"/> floats; a null reference for none.</summary>
    public readonly ref float Weights;

    /// <summary>The first row's log-sum-exp; a null reference for none.</summary>
    public readonly ref float LogSumExp;

    /// <summary>Keys per row of weights: the call's keyLength, padding included.</summary>
    public readonly int KeyLength;

    /// <summary>What the weights hold.</summary>
    public readonly AttentionWeights Kind;

    public RowOutputs(ref float weights, ref float logSumExp, int keyLength, AttentionWeights kind)
    {
        Weights = ref weights;
        LogSumExp = ref logSumExp;
        KeyLength = keyLength;
        Kind = kind;
    }

    /// <summary>The outputs of (batch entry <paramref name="b"/>, <paramref name="head"/>)'s row <paramref name="row"/> of a call.</summary>
    public static RowOutputs Of(scoped in AttentionArguments arguments, int heads, int b, int head, int row)
    {
        nint index = ((nint)b * heads + head) * arguments.QueryLength + row;
        return new RowOutputs(
            ref arguments.WritesWeights ? ref Unsafe.Add(ref MemoryMarshal.GetReference(arguments.Weights), index * arguments.KeyLength) : ref Unsafe.NullRef<float>(),
            ref arguments.WritesLogSumExp ? ref Unsafe.Add(ref MemoryMarshal.GetReference(arguments.LogSumExp), index) : ref Unsafe.NullRef<float>(),
            arguments.KeyLength, arguments.WeightsKind);
    }

    public bool WritesWeights => !Unsafe.IsNullRef(ref Weights);

    /// <summary>Whether the weights are scores before the masks, which every key has, seen or not.</summary>
    public bool NeedsEveryKey => WritesWeights && Kind <= AttentionWeights.SoftcappedScores;

    /// <summary>The outputs of the rows from row <paramref name="rows"/> on.</summary>
    public RowOutputs Skip(int rows) => new(
        ref WritesWeights ? ref Unsafe.Add(ref Weights, (nint)rows * KeyLength) : ref Weights,
        ref Unsafe.IsNullRef(ref LogSumExp) ? ref LogSumExp : ref Unsafe.Add(ref LogSumExp, rows),
        KeyLength, Kind);

    /// <summary>
    /// Copies a row block's tile of scores, [key][lane] with <paramref name="lanes"/> lanes, into the weights of its
    /// <paramref name="rows"/> rows at keys [<paramref name="tileStart"/>, + <paramref name="count"/>).
    /// </summary>
    public void WriteTile(ref float tile, int lanes, int rows, int tileStart, int count)
    {
        for (int r = 0; r < rows; r++)
        {
            ref float row = ref Unsafe.Add(ref Weights, (nint)r * KeyLength + tileStart);
            for (int c = 0; c < count; c++)
            {
                Unsafe.Add(ref row, c) = Unsafe.Add(ref tile, c * lanes + r);
            }
        }
    }

    /// <summary>
    /// Finishes row <paramref name="r"/> once its softmax is complete: its log-sum-exp, and its weights outside the keys
    /// the block walked, [<paramref name="first"/>, <paramref name="end"/>), which no row saw (−∞ as masked scores, 0 as
    /// probabilities). As probabilities, each tile's weights were written as <c>exp(s − m)</c> with the row's running
    /// maximum m at that tile; they become <c>exp(s − lse) = exp(s − m) · exp(m − lse)</c>, one multiplication each.
    /// </summary>
    /// <param name="r">The row in the block.</param>
    /// <param name="maximum">The row's final maximum, 0 where it saw no key.</param>
    /// <param name="sum">The row's sum of <c>exp(s − maximum)</c>: 0 exactly when it saw no key.</param>
    /// <param name="first">The first key the block walked, the start of a tile.</param>
    /// <param name="end">The key after the last one the block walked; at most <paramref name="first"/> when it walked none.</param>
    /// <param name="tileMaxima">With probabilities, the row's running maximum after tile 0 (−∞ before it saw a key); the next tiles' follow every <paramref name="stride"/> floats.</param>
    /// <param name="stride">Floats between one tile's maxima and the next's.</param>
    public void FinishRow<TSimd, TVector>(int r, float maximum, float sum, int first, int end, ref float tileMaxima, int stride)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
    {
        float logSumExp = sum > 0 ? maximum + MathF.Log(sum) : float.NegativeInfinity;
        if (!Unsafe.IsNullRef(ref LogSumExp))
        {
            Unsafe.Add(ref LogSumExp, r) = logSumExp;
        }

        if (!WritesWeights || Kind <= AttentionWeights.SoftcappedScores)
        {
            return; // scores before the masks: every key was walked and written
        }

        Span<float> row = MemoryMarshal.CreateSpan(ref Unsafe.Add(ref Weights, (nint)r * KeyLength), KeyLength);
        float unseen = Kind == AttentionWeights.MaskedScores ? float.NegativeInfinity : 0f;
        if (first >= end || float.IsNegativeInfinity(logSumExp))
        {
            row.Fill(unseen);
            return;
        }

        row.Slice(0, first).Fill(unseen);
        row.Slice(end).Fill(unseen);
        if (Kind == AttentionWeights.Probabilities)
        {
            for (int tileStart = first; tileStart < end; tileStart += KernelTiles.KeyTile)
            {
                // A tile before the row's first seen key holds only zeros, whatever its factor; its maximum is −∞.
                float tileMaximum = Unsafe.Add(ref tileMaxima, tileStart / KernelTiles.KeyTile * stride);
                float factor = float.IsNegativeInfinity(tileMaximum) ? 0f : MathF.Exp(tileMaximum - logSumExp);
                Scale<TSimd, TVector>(row.Slice(tileStart, Math.Min(KernelTiles.KeyTile, end - tileStart)), factor);
            }
        }
    }

    /// <summary>Multiplies <paramref name="values"/> by <paramref name="factor"/> in place, vector by vector where vectors are accelerated.</summary>
    private static void Scale<TSimd, TVector>(Span<float> values, float factor)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
    {
        ref float v = ref MemoryMarshal.GetReference(values);
        TVector f = TSimd.Create(factor);
        int j = 0;
        for (; Vector128.IsHardwareAccelerated && j <= values.Length - TSimd.Count; j += TSimd.Count)
        {
            TSimd.Store(TSimd.Multiply(TSimd.Load(ref v, (nuint)j), f), ref v, (nuint)j);
        }

        for (; j < values.Length; j++)
        {
            values[j] *= factor;
        }
    }
}
