using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace AttentionGen.CompilerServices;

/// <summary>How the one-row kernels read a row of keys or values: floats, or the bits of finite halves.</summary>
/// <typeparam name="TElement">The stored element: <see cref="float"/>, or <see cref="ushort"/> for the bits of a <see cref="Half"/>.</typeparam>
internal interface IRowElements<TElement>
    where TElement : unmanaged
{
    /// <summary>Loads one vector of elements as floats, <see cref="Rebias"/> times smaller than their value.</summary>
    static abstract TVector Load<TSimd, TVector>(ref TElement source, nuint offset)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct;

    /// <summary>The factor between an element's value and what <see cref="Load"/> gives: 1 for floats, 2^112 for halves.</summary>
    static abstract float Rebias { get; }
}

/// <summary>Rows of floats.</summary>
internal readonly struct SingleElements : IRowElements<float>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Load<TSimd, TVector>(ref float source, nuint offset)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct => TSimd.Load(ref source, offset);

    public static float Rebias => 1;
}

/// <summary>
/// Rows of finite halves (a Half <see cref="KvCache"/>), widened in registers by <see cref="KernelMath.LoadHalfBits512"/>,
/// which leaves out the factor 2^112 (<see cref="KernelMath.HalfRebias"/>): the query and each probability carry it
/// instead, so the products are exact and nothing is widened into memory.
/// </summary>
internal readonly struct HalfElements : IRowElements<ushort>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Load<TSimd, TVector>(ref ushort source, nuint offset)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct => TSimd.LoadHalfBits(ref source, offset);

    public static float Rebias => KernelMath.HalfRebias;
}

/// <summary>
/// The one-row kernels, for blocks that would fill less than half a vector (decoding a token, say) and for the cached
/// path: one query row against keys [firstKey, endKey), its online-softmax state (see <see cref="OnlineSoftmax"/>) in
/// memory between calls, so that a row can be computed in pieces. Written once, generic over the vector width, with a
/// register budget that fits every instruction set: each score takes four chains of multiply-adds (and eight query
/// vectors, when the head is exactly eight vectors long), and P·V holds at most eight vectors of the accumulator. Keys
/// come in tiles of <see cref="KernelTiles.RowKeyTile"/>; the group kernels (<see cref="RunGroup"/>) keep tiles of
/// <see cref="KernelTiles.KeyTile"/>, whose scores they hold for every row of the group at once.
/// </summary>
/// <typeparam name="TKernel">The generated kernel.</typeparam>
internal static partial class RowKernel<TKernel>
    where TKernel : struct, IAttentionKernel
{
    private const int KeyTile = KernelTiles.KeyTile;

    private const int RowTile = KernelTiles.RowKeyTile;

    private static bool HasExplicitMask
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (TKernel.Mask & AttentionMask.Explicit) != 0;
    }

    /// <summary>
    /// Advances one query row over keys and values stored as floats, rows <paramref name="keyStride"/> and
    /// <paramref name="valueStride"/> floats apart, on the widest accelerated width whose vector fits in both heads, else
    /// one float at a time. IsHardwareAccelerated is a JIT-time constant, so only the chosen path is compiled.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Run(
        ref float query, ref float keys, ref float values, nint keyStride, nint valueStride, int firstKey, int endKey,
        scoped in ExplicitMask mask, int maskStart, int maskKeyBase, ref float state)
    {
        if (Vector512.IsHardwareAccelerated && Fits(Vector512<float>.Count))
        {
            Vector<Simd512, Vector512<float>, float, SingleElements>(ref query, ref keys, ref values, keyStride, valueStride, firstKey, endKey, in mask, maskStart, maskKeyBase, ref state);
        }
        else if (Vector256.IsHardwareAccelerated && Fits(Vector256<float>.Count))
        {
            Vector<Simd256, Vector256<float>, float, SingleElements>(ref query, ref keys, ref values, keyStride, valueStride, firstKey, endKey, in mask, maskStart, maskKeyBase, ref state);
        }
        else if (Vector128.IsHardwareAccelerated && Fits(Vector128<float>.Count))
        {
            Vector<Simd128, Vector128<float>, float, SingleElements>(ref query, ref keys, ref values, keyStride, valueStride, firstKey, endKey, in mask, maskStart, maskKeyBase, ref state);
        }
        else
        {
            Scalar(ref query, ref keys, ref values, keyStride, valueStride, firstKey, endKey, in mask, maskStart, maskKeyBase, ref state);
        }
    }

    /// <summary>
    /// Advances one query row over keys and values stored as finite halves, consecutive rows HeadDim and ValueDim halves
    /// apart, read where they are. The caller checks <see cref="ReadsHalvesInPlace"/> first.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void RunHalf(
        ref float query, ref ushort keys, ref ushort values, int firstKey, int endKey,
        scoped in ExplicitMask mask, int maskStart, int maskKeyBase, ref float state)
    {
        if (Vector512.IsHardwareAccelerated && Fits(Vector512<float>.Count))
        {
            Vector<Simd512, Vector512<float>, ushort, HalfElements>(ref query, ref keys, ref values, TKernel.HeadDim, TKernel.ValueDim, firstKey, endKey, in mask, maskStart, maskKeyBase, ref state);
        }
        else if (Vector256.IsHardwareAccelerated && Fits(Vector256<float>.Count))
        {
            Vector<Simd256, Vector256<float>, ushort, HalfElements>(ref query, ref keys, ref values, TKernel.HeadDim, TKernel.ValueDim, firstKey, endKey, in mask, maskStart, maskKeyBase, ref state);
        }
        else
        {
            Vector<Simd128, Vector128<float>, ushort, HalfElements>(ref query, ref keys, ref values, TKernel.HeadDim, TKernel.ValueDim, firstKey, endKey, in mask, maskStart, maskKeyBase, ref state);
        }
    }

    /// <summary>
    /// Whether the one-row kernels can read a Half cache in place: they need SIMD, and heads of at least one vector. Otherwise
    /// the cached path widens each tile of halves into floats for <see cref="Run"/>.
    /// </summary>
    internal static bool ReadsHalvesInPlace
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector128.IsHardwareAccelerated && Fits(Vector128<float>.Count);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Fits(int lanes) => TKernel.HeadDim >= lanes && TKernel.ValueDim >= lanes;

    /// <summary>
    /// One query row on one vector width. A head that is not a whole number of vectors ends with one vector that ends at
    /// its last float and overlaps the one before: the query's copy of it is zero in the overlapping lanes, so they count
    /// once in a score, and its part of P·V is added only to the lanes the vector before did not cover. Its scratch is
    /// written before it is read, so it is not cleared first.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private static void Vector<TSimd, TVector, TElement, TElements>(
        ref float query, ref TElement keys, ref TElement values, nint keyStride, nint valueStride, int firstKey, int endKey,
        scoped in ExplicitMask mask, int maskStart, int maskKeyBase, ref float state)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TElements : struct, IRowElements<TElement>
    {
        int lanes = TSimd.Count;
        int headDim = TKernel.HeadDim, valueDim = TKernel.ValueDim;
        int headWhole = headDim / lanes * lanes;
        Span<float> scaledQuery = stackalloc float[ScaledQueryLength(lanes)];
        ref float q = ref MemoryMarshal.GetReference(scaledQuery);
        float scoreFactor = ScaleQuery<TSimd, TVector, TElement, TElements>(ref query, ref q);
        Span<float> scores = stackalloc float[RowTile];
        ref float score = ref MemoryMarshal.GetReference(scores);

        // Read once, before any vector is live (the read may run KernelMath's static constructor, a call), and tested
        // once per tile: each loop below comes in two copies, with the hints and without, so neither holds the flag.
        bool prefetch = KernelMath.PrefetchRowStreams;
        for (int tileStart = firstKey; tileStart < endKey; tileStart += RowTile)
        {
            int tileLength = Math.Min(RowTile, endKey - tileStart);

            // Scores: s_j = (scale · q) · k_j, one key at a time, each a dot product over four independent chains of
            // multiply-adds and one horizontal sum.
            ref TElement k = ref Unsafe.Add(ref keys, tileStart * keyStride);
            if (headDim == 8 * lanes)
            {
                // A head of exactly eight vectors (128 floats on Vector512, 64 on Vector256, 32 on Vector128): the query stays in registers.
                if (prefetch)
                {
                    ScoreEight<TSimd, TVector, TElement, TElements>(ref q, ref k, keyStride, tileLength, ref score, scoreFactor, prefetch: true);
                }
                else
                {
                    ScoreEight<TSimd, TVector, TElement, TElements>(ref q, ref k, keyStride, tileLength, ref score, scoreFactor, prefetch: false);
                }
            }
            else if (prefetch)
            {
                ScoreEach<TSimd, TVector, TElement, TElements>(ref q, ref k, keyStride, tileLength, ref score, scoreFactor, prefetch: true);
            }
            else
            {
                ScoreEach<TSimd, TVector, TElement, TElements>(ref q, ref k, keyStride, tileLength, ref score, scoreFactor, prefetch: false);
            }

            if (!Probabilities<TSimd, TVector, TElement, TElements>(ref score, tileLength, in mask, maskStart, maskKeyBase + tileStart, ref state, out bool minusInfinity))
            {
                continue; // every key of the tile is masked: it adds nothing
            }

            ref TElement tileValues = ref Unsafe.Add(ref values, tileStart * valueStride);
            if (minusInfinity && AnyNonFiniteValue(ref tileValues, tileLength, valueStride))
            {
                AccumulateRowNonZero(ref score, tileLength, ref tileValues, valueStride, ref state);
                continue;
            }

            if (prefetch)
            {
                AccumulateRow<TSimd, TVector, TElement, TElements, WithStreamHints>(ref score, tileLength, ref tileValues, valueStride, ref state);
            }
            else
            {
                AccumulateRow<TSimd, TVector, TElement, TElements, WithoutStreamHints>(ref score, tileLength, ref tileValues, valueStride, ref state);
            }
        }
    }

    /// <summary>
    /// The scores of <paramref name="count"/> keys from <paramref name="k"/> on against a head of exactly eight vectors,
    /// the scaled query (at <paramref name="q"/>) held in registers: each a dot product over four chains of
    /// multiply-adds and one horizontal sum, times <paramref name="scoreFactor"/>. With <paramref name="prefetch"/>
    /// (see <see cref="KernelMath.PrefetchRowStreams"/>), each key's step asks for the key
    /// <see cref="KernelTiles.PrefetchKeys"/> keys ahead into L1 and the one <see cref="KernelTiles.PrefetchFarKeys"/>
    /// ahead into L2.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScoreEight<TSimd, TVector, TElement, TElements>(ref float q, ref TElement k, nint keyStride, int count, ref float score, float scoreFactor, bool prefetch)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TElements : struct, IRowElements<TElement>
    {
        nuint n = (nuint)TSimd.Count;
        TVector q0 = TSimd.Load(ref q, 0), q1 = TSimd.Load(ref q, n), q2 = TSimd.Load(ref q, 2 * n), q3 = TSimd.Load(ref q, 3 * n);
        TVector q4 = TSimd.Load(ref q, 4 * n), q5 = TSimd.Load(ref q, 5 * n), q6 = TSimd.Load(ref q, 6 * n), q7 = TSimd.Load(ref q, 7 * n);
        for (int j = 0; j < count; j++, k = ref Unsafe.Add(ref k, keyStride), score = ref Unsafe.Add(ref score, 1))
        {
            if (prefetch)
            {
                KernelMath.PrefetchAhead(ref k, keyStride, TKernel.HeadDim);
            }

            TVector d0 = TSimd.Multiply(q0, TElements.Load<TSimd, TVector>(ref k, 0));
            TVector d1 = TSimd.Multiply(q1, TElements.Load<TSimd, TVector>(ref k, n));
            TVector d2 = TSimd.Multiply(q2, TElements.Load<TSimd, TVector>(ref k, 2 * n));
            TVector d3 = TSimd.Multiply(q3, TElements.Load<TSimd, TVector>(ref k, 3 * n));
            d0 = TSimd.MultiplyAdd(q4, TElements.Load<TSimd, TVector>(ref k, 4 * n), d0);
            d1 = TSimd.MultiplyAdd(q5, TElements.Load<TSimd, TVector>(ref k, 5 * n), d1);
            d2 = TSimd.MultiplyAdd(q6, TElements.Load<TSimd, TVector>(ref k, 6 * n), d2);
            d3 = TSimd.MultiplyAdd(q7, TElements.Load<TSimd, TVector>(ref k, 7 * n), d3);
            score = TSimd.SumAcross(TSimd.Add(TSimd.Add(d0, d1), TSimd.Add(d2, d3))) * scoreFactor;
        }
    }

    /// <summary>
    /// The scores of <paramref name="count"/> keys from <paramref name="k"/> on against a head of any other length, each a
    /// <see cref="Dot"/> times <paramref name="scoreFactor"/>; with <paramref name="prefetch"/> (see
    /// <see cref="KernelMath.PrefetchRowStreams"/>), each key's step asks for the key <see cref="KernelTiles.PrefetchKeys"/>
    /// keys ahead into L1 and the one <see cref="KernelTiles.PrefetchFarKeys"/> ahead into L2.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScoreEach<TSimd, TVector, TElement, TElements>(ref float q, ref TElement k, nint keyStride, int count, ref float score, float scoreFactor, bool prefetch)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TElements : struct, IRowElements<TElement>
    {
        for (int j = 0; j < count; j++, k = ref Unsafe.Add(ref k, keyStride))
        {
            if (prefetch)
            {
                KernelMath.PrefetchAhead(ref k, keyStride, TKernel.HeadDim);
            }

            Unsafe.Add(ref score, j) = Dot<TSimd, TVector, TElement, TElements>(ref q, ref k) * scoreFactor;
        }
    }

    /// <summary>
    /// P·V of one row over a tile: output += p_j · v_j for the <paramref name="count"/> probabilities at
    /// <paramref name="p"/> and the value rows from <paramref name="tileValues"/> on, the accumulator (at
    /// <paramref name="state"/>) held in registers over the keys, eight vectors at a time (four where fewer are left,
    /// then one), each a chain of multiply-adds of its own; the overlapping last vector adds only to the lanes the one
    /// before did not cover. Where that takes more than one pass (a value row of more than eight vectors), the passes
    /// go <see cref="KernelTiles.RowValueKeys"/> keys at a time. With an explicit mask, a masked key (p = 0) adds
    /// nothing, even to an infinite or NaN value (0 · ∞ is NaN). With <typeparamref name="THints"/> (see
    /// <see cref="KernelMath.PrefetchRowStreams"/>), the value rows are also asked for
    /// <see cref="KernelTiles.PrefetchFarKeys"/> keys ahead into L2, and in one pass
    /// <see cref="KernelTiles.PrefetchKeys"/> keys ahead into L1. A method of its own, fully optimized from the first
    /// call, as the group kernels' passes are: inlined into <see cref="Vector"/>, it exceeded the JIT's inlining budget
    /// there over a Half cache with the JIT held to AVX2 (a head of 128 is two passes of eight vectors), and its
    /// multiply-adds and stores became calls, its accumulators kept on the stack.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void AccumulateRow<TSimd, TVector, TElement, TElements, THints>(ref float p, int count, ref TElement tileValues, nint valueStride, ref float state)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TElements : struct, IRowElements<TElement>
        where THints : struct, IStreamHints
    {
        int lanes = TSimd.Count, valueDim = TKernel.ValueDim;
        if (valueDim <= 8 * lanes)
        {
            AccumulateRowPart<TSimd, TVector, TElement, TElements>(ref p, count, ref tileValues, valueStride, ref state, THints.Enabled);
            return;
        }

        // More than one pass of eight vectors, each adding one part of every value row. Over a whole tile, each pass would
        // read its part of every row again, from beyond L1 and in pieces the hardware prefetchers do not follow; so the
        // passes take a few keys at a time, whose rows the first pass brings into L1 for the others, and meanwhile the
        // next few keys' rows are fetched whole.
        const int keys = KernelTiles.RowValueKeys;
        for (int j = 0; j < count; j += keys)
        {
            ref TElement rows = ref Unsafe.Add(ref tileValues, j * valueStride);
            KernelMath.PrefetchRows(ref Unsafe.Add(ref rows, keys * valueStride), valueStride, Math.Min(keys, count - j - keys), valueDim);
            if (THints.Enabled)
            {
                // Past the tile's end these are the next tile's rows; past the cache's, lines nobody reads (a hint never faults).
                KernelMath.PrefetchRows(ref Unsafe.Add(ref rows, KernelTiles.PrefetchFarKeys * valueStride), valueStride, keys, valueDim, intoL2: true);
            }

            AccumulateRowPart<TSimd, TVector, TElement, TElements>(ref Unsafe.Add(ref p, j), Math.Min(keys, count - j), ref rows, valueStride, ref state, prefetch: false);
        }
    }

    /// <summary>
    /// Whether any of <paramref name="count"/> value rows from <paramref name="tileValues"/> on holds an infinity or a NaN:
    /// asked only of a tile with a score of -∞ (see <see cref="Probabilities"/>), which is rare. Halves are always finite.
    /// </summary>
    private static bool AnyNonFiniteValue<TElement>(ref TElement tileValues, int count, nint valueStride)
        where TElement : unmanaged =>
        typeof(TElement) == typeof(float) && MaskedValues.AnyNonFinite(ref Unsafe.As<TElement, float>(ref tileValues), count, TKernel.ValueDim, valueStride);

    /// <summary>
    /// P·V of one row over a tile of float values some of which are infinite or NaN (<see cref="AnyNonFiniteValue"/>):
    /// adds only the weights that are not 0, as the scalar kernel and <c>ReferenceAttention</c> do.
    /// </summary>
    private static void AccumulateRowNonZero<TElement>(ref float p, int count, ref TElement tileValues, nint valueStride, ref float state)
        where TElement : unmanaged =>
        MaskedValues.AccumulateNonZero(ref p, 1, count, ref Unsafe.As<TElement, float>(ref tileValues), valueStride, TKernel.ValueDim, ref state);

    /// <summary>
    /// P·V of one row over <paramref name="count"/> keys as <see cref="AccumulateRow"/> describes, each part of the
    /// accumulator in one pass over the keys; with <paramref name="prefetch"/> (a value row of at most eight vectors, so one
    /// block of eight or four vectors and the single vectors after it), that block's steps ask for the value rows ahead
    /// (<see cref="KernelMath.PrefetchRowStreams"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AccumulateRowPart<TSimd, TVector, TElement, TElements>(ref float p, int count, ref TElement tileValues, nint valueStride, ref float state, bool prefetch)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TElements : struct, IRowElements<TElement>
    {
        int lanes = TSimd.Count, valueDim = TKernel.ValueDim;
        int valueWhole = valueDim / lanes * lanes;
        int v = 0;
        for (; v + 8 * lanes <= valueWhole; v += 8 * lanes)
        {
            Accumulate8<TSimd, TVector, TElement, TElements>(ref p, count, ref Unsafe.Add(ref tileValues, v), valueStride, ref Unsafe.Add(ref state, v), prefetch);
        }

        for (; v + 4 * lanes <= valueWhole; v += 4 * lanes)
        {
            Accumulate4<TSimd, TVector, TElement, TElements>(ref p, count, ref Unsafe.Add(ref tileValues, v), valueStride, ref Unsafe.Add(ref state, v), prefetch);
        }

        for (; v < valueWhole; v += lanes)
        {
            Accumulate1<TSimd, TVector, TElement, TElements>(ref p, count, ref tileValues, (nuint)v, valueStride, ref state, TSimd.LanesFrom(0));
        }

        if (valueWhole != valueDim)
        {
            Accumulate1<TSimd, TVector, TElement, TElements>(ref p, count, ref tileValues, (nuint)(valueDim - lanes), valueStride, ref state, TSimd.LanesFrom(valueWhole + lanes - valueDim));
        }
    }

    /// <summary>
    /// Writes query row <paramref name="query"/> scaled into <paramref name="q"/> (whole vectors, then the last vector
    /// with the lanes it shares with the one before zeroed; headWhole + lanes floats), so that each score is a plain dot
    /// product times the factor returned. Over halves the keys come 2^112 times too small, so the query also carries
    /// 2^112, or, where Scale is above 1 and all of it would overflow, 2^112 / 2^e with 2^e ≥ Scale, the scores taking
    /// the remaining 2^e.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ScaleQuery<TSimd, TVector, TElement, TElements>(ref float query, ref float q)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TElements : struct, IRowElements<TElement>
    {
        int lanes = TSimd.Count, headDim = TKernel.HeadDim;
        int headWhole = headDim / lanes * lanes;
        float rebias = TElements.Rebias;
        float scoreFactor = rebias == 1 || TKernel.Scale <= 1 ? 1 : MathF.ScaleB(1, CeilingLog2(TKernel.Scale));
        TVector queryFactor = TSimd.Create(TKernel.Scale * (rebias / scoreFactor));
        for (int i = 0; i < headWhole; i += lanes)
        {
            TSimd.Store(TSimd.Multiply(TSimd.Load(ref query, (nuint)i), queryFactor), ref q, (nuint)i);
        }

        if (headWhole != headDim)
        {
            TVector last = TSimd.Multiply(TSimd.Load(ref query, (nuint)(headDim - lanes)), queryFactor);
            TSimd.Store(TSimd.And(last, TSimd.LanesFrom(headWhole + lanes - headDim)), ref q, (nuint)headWhole);
        }

        return scoreFactor;
    }

    /// <summary>
    /// Turns one row's scores of a tile of <paramref name="tileLength"/> keys (soft-capped, then masked by the explicit
    /// mask, if the kernel has them) into probabilities exp(s - max) in place, padded with zeros to whole vectors, and
    /// advances the row's online softmax in <paramref name="state"/>: when the maximum grows, the sum and the accumulator
    /// are rescaled by exp(old max - new max). Each probability is stored times <see cref="IRowElements{TElement}.Rebias"/>
    /// (2^112 over halves, 1 over floats), the factor P·V's products need, so that P·V takes it from where it lies
    /// (<see cref="ISimd{TVector}.ScalarFrom"/>: the scores are on the stack, which does not move). Returns false,
    /// leaving the state as it was, when every key of the tile is masked. <paramref name="minusInfinity"/> tells whether,
    /// without an explicit mask and over values that may not be finite, some key the row sees scored -∞ all the same: its
    /// weight is 0, and P·V must then keep it from an infinite value (<see cref="AccumulateRowNonZero"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Probabilities<TSimd, TVector, TElement, TElements>(
        ref float score, int tileLength, scoped in ExplicitMask mask, int maskStart, int maskKey, ref float state, out bool minusInfinity)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TElements : struct, IRowElements<TElement>
    {
        int lanes = TSimd.Count, valueDim = TKernel.ValueDim;
        int paddedLength = (tileLength + lanes - 1) / lanes * lanes;
        int j;
        if (TKernel.Softcap != 0)
        {
            // Soft-cap before any mask: s = c · tanh(s / c).
            for (j = 0; j < paddedLength; j += lanes)
            {
                TSimd.Store(TSimd.SoftCap(TSimd.Load(ref score, (nuint)j), TKernel.Softcap), ref score, (nuint)j);
            }
        }

        Span<float> scores = MemoryMarshal.CreateSpan(ref score, paddedLength);
        if (HasExplicitMask)
        {
            MaskedValues.ApplyExplicitMask(scores, 1, maskKey, tileLength, in mask, maskStart);
        }

        // With an explicit mask, P·V skips every weight of 0 anyway; halves are always finite (a Half cache refuses
        // infinities and NaN), so only float values can meet a weight of 0 as 0 · ∞.
        minusInfinity = !HasExplicitMask && typeof(TElement) == typeof(float) && MaskedValues.AnyMinusInfinity(ref score, tileLength);

        // Pad the tile to whole vectors with -infinity, which the maximum ignores and exp turns into 0.
        scores[tileLength..].Fill(float.NegativeInfinity);

        TVector maxima = TSimd.Load(ref score, 0);
        for (j = lanes; j < paddedLength; j += lanes)
        {
            maxima = TSimd.Max(maxima, TSimd.Load(ref score, (nuint)j));
        }

        float tileMax = TSimd.MaxAcross(maxima);
        if (tileMax == float.NegativeInfinity)
        {
            return false;
        }

        ref float rowMax = ref OnlineSoftmax.Maximum(ref state, valueDim);
        ref float rowSum = ref OnlineSoftmax.Sum(ref state, valueDim);
        if (tileMax > rowMax)
        {
            float correction = MathF.Exp(rowMax - tileMax);
            rowMax = tileMax;
            rowSum *= correction;
            TVector factor = TSimd.Create(correction);
            int i = 0;
            for (; i + lanes <= valueDim; i += lanes)
            {
                TSimd.Store(TSimd.Multiply(TSimd.Load(ref state, (nuint)i), factor), ref state, (nuint)i);
            }

            for (; i < valueDim; i++)
            {
                Unsafe.Add(ref state, i) *= correction;
            }
        }

        // Probabilities p_j = exp(s_j - max), summed, and written over the scores times the rebias factor.
        TVector maximum = TSimd.Create(rowMax), rebias = TSimd.Create(TElements.Rebias);
        TVector tileSum = TSimd.Zero;
        for (j = 0; j < paddedLength; j += lanes)
        {
            TVector p = TSimd.ExpNonPositive(TSimd.Subtract(TSimd.Load(ref score, (nuint)j), maximum));
            TSimd.Store(TElements.Rebias == 1 ? p : TSimd.Multiply(p, rebias), ref score, (nuint)j);
            tileSum = TSimd.Add(tileSum, p);
        }

        rowSum += TSimd.SumAcross(tileSum);
        return true;
    }

    /// <summary>
    /// The dot product of the scaled query <paramref name="q"/> (whole vectors, then its masked last vector) with key row
    /// <paramref name="k"/>, over four independent chains of multiply-adds.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot<TSimd, TVector, TElement, TElements>(ref float q, ref TElement k)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TElements : struct, IRowElements<TElement>
    {
        int lanes = TSimd.Count, headDim = TKernel.HeadDim;
        int headWhole = headDim / lanes * lanes;
        nuint n = (nuint)lanes;
        TVector d0 = TSimd.Zero, d1 = TSimd.Zero, d2 = TSimd.Zero, d3 = TSimd.Zero;
        ref float qi = ref q;
        ref TElement ki = ref k;
        int i = 0;
        for (; i + 4 * lanes <= headWhole; i += 4 * lanes)
        {
            d0 = TSimd.MultiplyAdd(TSimd.Load(ref qi, 0), TElements.Load<TSimd, TVector>(ref ki, 0), d0);
            d1 = TSimd.MultiplyAdd(TSimd.Load(ref qi, n), TElements.Load<TSimd, TVector>(ref ki, n), d1);
            d2 = TSimd.MultiplyAdd(TSimd.Load(ref qi, 2 * n), TElements.Load<TSimd, TVector>(ref ki, 2 * n), d2);
            d3 = TSimd.MultiplyAdd(TSimd.Load(ref qi, 3 * n), TElements.Load<TSimd, TVector>(ref ki, 3 * n), d3);
            qi = ref Unsafe.Add(ref qi, 4 * lanes);
            ki = ref Unsafe.Add(ref ki, 4 * lanes);
        }

        for (; i < headWhole; i += lanes)
        {
            d0 = TSimd.MultiplyAdd(TSimd.Load(ref qi, 0), TElements.Load<TSimd, TVector>(ref ki, 0), d0);
            qi = ref Unsafe.Add(ref qi, lanes);
            ki = ref Unsafe.Add(ref ki, lanes);
        }

        if (headWhole != headDim)
        {
            d1 = TSimd.MultiplyAdd(TSimd.Load(ref q, (nuint)headWhole), TElements.Load<TSimd, TVector>(ref k, (nuint)(headDim - lanes)), d1);
        }

        return TSimd.SumAcross(TSimd.Add(TSimd.Add(d0, d1), TSimd.Add(d2, d3)));
    }

    /// <summary>
    /// P·V into eight consecutive vectors of the accumulator, held in registers over <paramref name="count"/> keys; with
    /// <paramref name="prefetch"/>, each key's step asks for the whole value row <see cref="KernelTiles.PrefetchKeys"/>
    /// keys ahead into L1 and the one <see cref="KernelTiles.PrefetchFarKeys"/> ahead into L2.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate8<TSimd, TVector, TElement, TElements>(ref float p, int count, ref TElement v, nint valueStride, ref float o, bool prefetch)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TElements : struct, IRowElements<TElement>
    {
        nuint n = (nuint)TSimd.Count;
        TVector o0 = TSimd.Load(ref o, 0), o1 = TSimd.Load(ref o, n), o2 = TSimd.Load(ref o, 2 * n), o3 = TSimd.Load(ref o, 3 * n);
        TVector o4 = TSimd.Load(ref o, 4 * n), o5 = TSimd.Load(ref o, 5 * n), o6 = TSimd.Load(ref o, 6 * n), o7 = TSimd.Load(ref o, 7 * n);
        for (int j = 0; j < count; j++, p = ref Unsafe.Add(ref p, 1), v = ref Unsafe.Add(ref v, valueStride))
        {
            if (HasExplicitMask && p == 0)
            {
                continue;
            }

            if (prefetch)
            {
                KernelMath.PrefetchAhead(ref v, valueStride, TKernel.ValueDim);
            }

            TVector w = TSimd.ScalarFrom(ref p);
            o0 = TSimd.MultiplyAddScalar(TElements.Load<TSimd, TVector>(ref v, 0), w, o0);
            o1 = TSimd.MultiplyAddScalar(TElements.Load<TSimd, TVector>(ref v, n), w, o1);
            o2 = TSimd.MultiplyAddScalar(TElements.Load<TSimd, TVector>(ref v, 2 * n), w, o2);
            o3 = TSimd.MultiplyAddScalar(TElements.Load<TSimd, TVector>(ref v, 3 * n), w, o3);
            o4 = TSimd.MultiplyAddScalar(TElements.Load<TSimd, TVector>(ref v, 4 * n), w, o4);
            o5 = TSimd.MultiplyAddScalar(TElements.Load<TSimd, TVector>(ref v, 5 * n), w, o5);
            o6 = TSimd.MultiplyAddScalar(TElements.Load<TSimd, TVector>(ref v, 6 * n), w, o6);
            o7 = TSimd.MultiplyAddScalar(TElements.Load<TSimd, TVector>(ref v, 7 * n), w, o7);
        }

        TSimd.Store(o0, ref o, 0);
        TSimd.Store(o1, ref o, n);
        TSimd.Store(o2, ref o, 2 * n);
        TSimd.Store(o3, ref o, 3 * n);
        TSimd.Store(o4, ref o, 4 * n);
        TSimd.Store(o5, ref o, 5 * n);
        TSimd.Store(o6, ref o, 6 * n);
        TSimd.Store(o7, ref o, 7 * n);
    }

    /// <summary>
    /// P·V into four consecutive vectors of the accumulator, held in registers over <paramref name="count"/> keys; with
    /// <paramref name="prefetch"/>, as <see cref="Accumulate8"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate4<TSimd, TVector, TElement, TElements>(ref float p, int count, ref TElement v, nint valueStride, ref float o, bool prefetch)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TElements : struct, IRowElements<TElement>
    {
        nuint n = (nuint)TSimd.Count;
        TVector o0 = TSimd.Load(ref o, 0), o1 = TSimd.Load(ref o, n), o2 = TSimd.Load(ref o, 2 * n), o3 = TSimd.Load(ref o, 3 * n);
        for (int j = 0; j < count; j++, p = ref Unsafe.Add(ref p, 1), v = ref Unsafe.Add(ref v, valueStride))
        {
            if (HasExplicitMask && p == 0)
            {
                continue;
            }

            if (prefetch)
            {
                KernelMath.PrefetchAhead(ref v, valueStride, TKernel.ValueDim);
            }

            TVector w = TSimd.ScalarFrom(ref p);
            o0 = TSimd.MultiplyAddScalar(TElements.Load<TSimd, TVector>(ref v, 0), w, o0);
            o1 = TSimd.MultiplyAddScalar(TElements.Load<TSimd, TVector>(ref v, n), w, o1);
            o2 = TSimd.MultiplyAddScalar(TElements.Load<TSimd, TVector>(ref v, 2 * n), w, o2);
            o3 = TSimd.MultiplyAddScalar(TElements.Load<TSimd, TVector>(ref v, 3 * n), w, o3);
        }

        TSimd.Store(o0, ref o, 0);
        TSimd.Store(o1, ref o, n);
        TSimd.Store(o2, ref o, 2 * n);
        TSimd.Store(o3, ref o, 3 * n);
    }

    /// <summary>
    /// P·V into the vector of the accumulator at <paramref name="offset"/> over <paramref name="count"/> keys, added only
    /// in the lanes <paramref name="added"/> selects.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate1<TSimd, TVector, TElement, TElements>(ref float p, int count, ref TElement v, nuint offset, nint valueStride, ref float o, TVector added)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TElements : struct, IRowElements<TElement>
    {
        TVector sum = TSimd.Zero;
        for (int j = 0; j < count; j++, p = ref Unsafe.Add(ref p, 1), v = ref Unsafe.Add(ref v, valueStride))
        {
            if (HasExplicitMask && p == 0)
            {
                continue;
            }

            sum = TSimd.MultiplyAddScalar(TElements.Load<TSimd, TVector>(ref v, offset), TSimd.ScalarFrom(ref p), sum);
        }

        TSimd.Store(TSimd.Add(TSimd.Load(ref o, offset), TSimd.And(sum, added)), ref o, offset);
    }

    /// <summary>
    /// The floats of a query scaled by <see cref="ScaleQuery"/> on a width of <paramref name="lanes"/>: the head's whole
    /// vectors, then one for its masked last vector; also the distance between the group kernels' scaled queries.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ScaledQueryLength(int lanes) => TKernel.HeadDim / lanes * lanes + lanes;

    /// <summary>⌈log2 x⌉ for a finite x above 1.</summary>
    private static int CeilingLog2(float x)
    {
        int floor = MathF.ILogB(x);
        return MathF.ScaleB(1, floor) == x ? floor : floor + 1;
    }

    /// <summary>
    /// One query row, one float at a time, when no vector width is accelerated (DOTNET_EnableHWIntrinsic=0, or a platform
    /// without SIMD). A scalar unit adds doubles as fast as floats, so each dot product accumulates in double, as
    /// accurate as the vector paths' many partial sums. Its scratch is written before it is read, so it is not cleared
    /// first.
    /// </summary>
    [SkipLocalsInit]
    private static void Scalar(
        ref float query, ref float keys, ref float values, nint keyStride, nint valueStride, int firstKey, int endKey,
        scoped in ExplicitMask mask, int maskStart, int maskKeyBase, ref float state)
    {
        int headDim = TKernel.HeadDim, valueDim = TKernel.ValueDim;
        Span<float> q = stackalloc float[headDim];
        for (int d = 0; d < headDim; d++)
        {
            q[d] = Unsafe.Add(ref query, d) * TKernel.Scale;
        }

        Span<float> o = MemoryMarshal.CreateSpan(ref state, valueDim);
        float rowMax = OnlineSoftmax.Maximum(ref state, valueDim);
        float rowSum = OnlineSoftmax.Sum(ref state, valueDim);
        Span<float> scores = stackalloc float[RowTile];
        for (int tileStart = firstKey; tileStart < endKey; tileStart += RowTile)
        {
            int tileLength = Math.Min(RowTile, endKey - tileStart);

            // Scores, soft-capped (if the kernel caps) before any mask.
            for (int j = 0; j < tileLength; j++)
            {
                ref float k = ref Unsafe.Add(ref keys, (tileStart + j) * keyStride);
                double dot = 0;
                for (int d = 0; d < headDim; d++)
                {
                    dot += (double)q[d] * Unsafe.Add(ref k, d);
                }

                scores[j] = TKernel.Softcap != 0 ? TKernel.Softcap * MathF.Tanh((float)dot / TKernel.Softcap) : (float)dot;
            }

            if (HasExplicitMask)
            {
                MaskedValues.ApplyExplicitMask(scores, 1, maskKeyBase + tileStart, tileLength, in mask, maskStart);
            }

            float tileMax = float.NegativeInfinity;
            for (int j = 0; j < tileLength; j++)
            {
                tileMax = MathF.Max(tileMax, scores[j]);
            }

            if (tileMax == float.NegativeInfinity)
            {
                continue; // every key of the tile is masked: it adds nothing
            }

            // Online softmax: when the maximum grows, rescale the sum and the accumulator by exp(old max - new max).
            if (tileMax > rowMax)
            {
                float correction = MathF.Exp(rowMax - tileMax);
                rowMax = tileMax;
                rowSum *= correction;
                for (int d = 0; d < valueDim; d++)
                {
                    o[d] *= correction;
                }
            }

            // p_j = exp(s_j - max); accumulate P·V: output += p_j · v_j.
            for (int j = 0; j < tileLength; j++)
            {
                float p = MathF.Exp(scores[j] - rowMax);
                if (p == 0)
                {
                    continue; // a masked key, or one far below the maximum: it adds nothing, even to an infinite or NaN value
                }

                rowSum += p;
                ref float v = ref Unsafe.Add(ref values, (tileStart + j) * valueStride);
                for (int d = 0; d < valueDim; d++)
                {
                    o[d] += p * Unsafe.Add(ref v, d);
                }
            }
        }

        OnlineSoftmax.Maximum(ref state, valueDim) = rowMax;
        OnlineSoftmax.Sum(ref state, valueDim) = rowSum;
    }
}
