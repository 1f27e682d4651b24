using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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

    /// <summary>
    /// Where the tiles go before <see cref="FinishRow"/> streams each finished row to <see cref="Weights"/>: rows of
    /// <see cref="KeyLength"/> floats in the caller's scratch, which stays in cache; a null reference to write the
    /// tiles into the weights themselves.
    /// </summary>
    public readonly ref float Staging;

    public RowOutputs(ref float weights, ref float logSumExp, int keyLength, AttentionWeights kind)
        : this(ref weights, ref logSumExp, keyLength, kind, ref Unsafe.NullRef<float>())
    {
    }

    private RowOutputs(ref float weights, ref float logSumExp, int keyLength, AttentionWeights kind, ref float staging)
    {
        Weights = ref weights;
        LogSumExp = ref logSumExp;
        KeyLength = keyLength;
        Kind = kind;
        Staging = ref staging;
    }

    /// <summary>These outputs with the tiles staged at <paramref name="staging"/> (<see cref="Staging"/>).</summary>
    public RowOutputs StagedAt(ref float staging) => new(ref Weights, ref LogSumExp, KeyLength, Kind, ref staging);

    /// <summary>Where the tiles are written: the staging rows, or the weights.</summary>
    private ref float Target => ref Unsafe.IsNullRef(ref Staging) ? ref Weights : ref Staging;

    /// <summary>
    /// Floats from one row of <see cref="Target"/> to the next. Staged rows are a cache line longer than a row of
    /// weights, so that a block's 16 rows, which a tile writes side by side, do not fall into one L1 set when the
    /// key length is a multiple of 1 KiB.
    /// </summary>
    private int TargetStride => Unsafe.IsNullRef(ref Staging) ? KeyLength : StagingStride(KeyLength);

    /// <summary>Floats per staged row for rows of <paramref name="keyLength"/> weights.</summary>
    public static int StagingStride(int keyLength) => keyLength + 16;

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
        KeyLength, Kind, ref Unsafe.NullRef<float>());

    /// <summary>
    /// Copies a row block's tile of scores, [key][lane] with <paramref name="lanes"/> lanes, into the weights of its
    /// <paramref name="rows"/> rows at keys [<paramref name="tileStart"/>, + <paramref name="count"/>).
    /// </summary>
    public void WriteTile(ref float tile, int lanes, int rows, int tileStart, int count)
    {
        ref float target = ref Target;
        int stride = TargetStride;
        int c = 0;
        if (Avx512F.IsSupported && lanes == Vector512<float>.Count)
        {
            // 16 keys at a time: their 16 vectors of 16 lanes transposed in registers, then one vector store per row.
            for (; c + 16 <= count; c += 16)
            {
                LaneTranspose.TransposeRows16(ref Unsafe.Add(ref tile, c * lanes), (nuint)lanes, Vector512<float>.One, rows, ref Unsafe.Add(ref target, tileStart + c), stride);
            }
        }
        else if (Avx.IsSupported && lanes % 8 == 0)
        {
            // 8 keys at a time, each group of 8 lanes transposed in registers, then one 8-float store per row.
            for (; c + 8 <= count; c += 8)
            {
                for (int g = 0; g < rows; g += 8)
                {
                    LaneTranspose.TransposeRows8(
                        ref Unsafe.Add(ref tile, c * lanes + g), (nuint)lanes, Vector256<float>.One, rows - g, ref Unsafe.Add(ref target, (nint)g * stride + tileStart + c), stride);
                }
            }
        }
        else if (Vector128.IsHardwareAccelerated && lanes % 4 == 0)
        {
            for (; c + 4 <= count; c += 4)
            {
                for (int g = 0; g < rows; g += 4)
                {
                    LaneTranspose.TransposeRows4(
                        ref Unsafe.Add(ref tile, c * lanes + g), (nuint)lanes, Vector128<float>.One, rows - g, ref Unsafe.Add(ref target, (nint)g * stride + tileStart + c), stride);
                }
            }
        }

        for (int r = 0; r < rows; r++)
        {
            ref float row = ref Unsafe.Add(ref target, (nint)r * stride + tileStart);
            for (int k = c; k < count; k++)
            {
                Unsafe.Add(ref row, k) = Unsafe.Add(ref tile, k * lanes + r);
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

        if (!WritesWeights)
        {
            return;
        }

        Span<float> row = MemoryMarshal.CreateSpan(ref Unsafe.Add(ref Weights, (nint)r * KeyLength), KeyLength);
        ReadOnlySpan<float> staged = MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref Target, (nint)r * TargetStride), KeyLength);
        bool inPlace = Unsafe.IsNullRef(ref Staging);
        if (Kind <= AttentionWeights.SoftcappedScores)
        {
            // Scores before the masks: every key was walked and written.
            if (!inPlace)
            {
                Stream(staged, row, 1f, scale: false);
            }

            return;
        }

        float unseen = Kind == AttentionWeights.MaskedScores ? float.NegativeInfinity : 0f;
        if (first >= end || float.IsNegativeInfinity(logSumExp))
        {
            row.Fill(unseen);
            return;
        }

        row.Slice(0, first).Fill(unseen);
        row.Slice(end).Fill(unseen);
        for (int tileStart = first; tileStart < end; tileStart += KernelTiles.KeyTile)
        {
            int count = Math.Min(KernelTiles.KeyTile, end - tileStart);
            if (Kind == AttentionWeights.Probabilities)
            {
                // A tile before the row's first seen key holds only zeros, whatever its factor; its maximum is −∞.
                float tileMaximum = Unsafe.Add(ref tileMaxima, tileStart / KernelTiles.KeyTile * stride);
                float factor = float.IsNegativeInfinity(tileMaximum) ? 0f : MathF.Exp(tileMaximum - logSumExp);
                Stream(staged.Slice(tileStart, count), row.Slice(tileStart, count), factor, scale: true);
            }
            else if (!inPlace)
            {
                Stream(staged.Slice(tileStart, count), row.Slice(tileStart, count), 1f, scale: false);
            }
        }
    }

    /// <summary>
    /// <paramref name="destination"/> = <paramref name="source"/> (times <paramref name="factor"/> when
    /// <paramref name="scale"/>), in place or not. With AVX-512, the aligned part goes out with non-temporal stores:
    /// the weights are written once and not read back, so their lines need not be fetched first (the caller fences).
    /// Fully optimized from the first call: where rows are short (an encoder over short sentences), tiered compilation's
    /// profile found the streaming path cold and left the overlap test and the pinning as calls, around which the JIT
    /// kept the factor on the stack, a store and a reload per float of the scalar loop before the aligned part (its
    /// listing, AVX-512).
    /// </summary>
    /// <remarks>
    /// The same with AVX's 256-bit non-temporal stores, tried on an Intel Xeon (family 6 model 207) with the JIT held to
    /// AVX2: writing 8 MiB of probabilities (8 heads, 512 tokens) added about 9 ms to the call, where through the cache
    /// they add 1.4 ms (medians of a probe), so below AVX-512 the weights go out through the cache.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Stream(ReadOnlySpan<float> source, Span<float> destination, float factor, bool scale)
    {
        int j = 0;
        if (Avx512F.IsSupported && destination.Length >= 32 && !destination.Overlaps(source))
        {
            fixed (float* to = destination)
            fixed (float* from = source)
            {
                int head = (int)((64 - ((nint)to & 63)) & 63) / sizeof(float);
                for (; j < head; j++)
                {
                    to[j] = scale ? from[j] * factor : from[j];
                }

                Vector512<float> f = Vector512.Create(factor);
                for (; j <= destination.Length - 16; j += 16)
                {
                    Vector512<float> v = Vector512.Load(from + j);
                    Avx512F.StoreAlignedNonTemporal(to + j, scale ? v * f : v);
                }
            }
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            ref float from = ref MemoryMarshal.GetReference(source);
            ref float to = ref MemoryMarshal.GetReference(destination);
            Vector128<float> f = Vector128.Create(factor);
            for (; j <= destination.Length - 4; j += 4)
            {
                Vector128<float> v = Vector128.LoadUnsafe(ref from, (nuint)j);
                (scale ? v * f : v).StoreUnsafe(ref to, (nuint)j);
            }
        }

        for (; j < destination.Length; j++)
        {
            destination[j] = scale ? source[j] * factor : source[j];
        }
    }

    /// <summary>Orders the non-temporal stores of <see cref="Stream"/> before whatever the thread does next.</summary>
    public static void Fence()
    {
        if (Avx512F.IsSupported)
        {
            Sse.StoreFence();
        }
    }
}
