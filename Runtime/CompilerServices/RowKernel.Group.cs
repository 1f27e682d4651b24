using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace AttentionGen.CompilerServices;

/// <summary>
/// The group kernels: two to four query rows that see the same keys (the query heads of one key/value head when
/// decoding, grouped-query attention) computed together, so that each key and value vector is loaded, and a half
/// widened, once for all of them rather than once per row. Scores take two keys at a time, each key vector feeding one
/// multiply-add per row: with four rows, eight independent chains. P·V holds up to four vectors of each row's
/// accumulator in registers (two on a 16-register file), each value vector feeding one multiply-add per row.
/// </summary>
internal static partial class RowKernel<TKernel>
{
    /// <summary>The keys a group scores, soft-maxes and accumulates together (<see cref="KernelTiles.GroupKeyTile"/>).</summary>
    private const int GroupTile = KernelTiles.GroupKeyTile;

    /// <summary>
    /// Whether rows that see the same keys can run as a group: the group kernels need SIMD and heads of at least one
    /// vector, and leave explicit masks (which differ from row to row, and must keep a masked key's non-finite value out
    /// of its row) to the one-row kernels.
    /// </summary>
    internal static bool GroupsRows
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector128.IsHardwareAccelerated && Fits(Vector128<float>.Count) && !HasExplicitMask;
    }

    /// <summary>
    /// Advances <paramref name="count"/> (2 to <see cref="KernelTiles.GroupRows"/>) query rows that all see keys
    /// [<paramref name="firstKey"/>, <paramref name="endKey"/>): row g's query at <c>g · HeadDim</c> floats from
    /// <paramref name="queries"/>, its online-softmax state at <c>g · StateSize</c> floats from <paramref name="states"/>.
    /// The keys and values are floats (<see cref="SingleElements"/>) or finite halves (<see cref="HalfElements"/>), read
    /// where they are, rows <paramref name="keyStride"/> and <paramref name="valueStride"/> elements apart; halves are
    /// widened in registers once for the whole group. The caller checks <see cref="GroupsRows"/> first.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void RunGroup<TElement, TElements>(
        int count, ref float queries, ref TElement keys, ref TElement values, nint keyStride, nint valueStride, int firstKey, int endKey, ref float states)
        where TElement : unmanaged
        where TElements : struct, IRowElements<TElement>
    {
        switch (count)
        {
            case 2:
                Group<TElement, TElements, Count2>(ref queries, ref keys, ref values, keyStride, valueStride, firstKey, endKey, ref states);
                break;
            case 3:
                Group<TElement, TElements, Count3>(ref queries, ref keys, ref values, keyStride, valueStride, firstKey, endKey, ref states);
                break;
            default:
                Group<TElement, TElements, Count4>(ref queries, ref keys, ref values, keyStride, valueStride, firstKey, endKey, ref states);
                break;
        }
    }

    /// <summary>A group on the widest accelerated width whose vector fits in both heads.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Group<TElement, TElements, TRows>(
        ref float queries, ref TElement keys, ref TElement values, nint keyStride, nint valueStride, int firstKey, int endKey, ref float states)
        where TElement : unmanaged
        where TElements : struct, IRowElements<TElement>
        where TRows : struct, IConstantCount
    {
        if (Vector512.IsHardwareAccelerated && Fits(Vector512<float>.Count))
        {
            GroupVector<Simd512, Vector512<float>, TElement, TElements, TRows>(ref queries, ref keys, ref values, keyStride, valueStride, firstKey, endKey, ref states);
        }
        else if (Vector256.IsHardwareAccelerated && Fits(Vector256<float>.Count))
        {
            GroupVector<Simd256, Vector256<float>, TElement, TElements, TRows>(ref queries, ref keys, ref values, keyStride, valueStride, firstKey, endKey, ref states);
        }
        else
        {
            GroupVector<Simd128, Vector128<float>, TElement, TElements, TRows>(ref queries, ref keys, ref values, keyStride, valueStride, firstKey, endKey, ref states);
        }
    }

    /// <summary>
    /// A group of <typeparamref name="TRows"/> rows on one vector width: per tile of keys, the scores of every row, then
    /// each row's online softmax, then P·V for every row. A head that is not a whole number of vectors ends as in
    /// <see cref="Vector"/>. Its scratch (the scaled queries, and 8 KiB of scores for four rows) is written before it is
    /// read, as <see cref="Vector"/>'s is, so it is not cleared on every call.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private static void GroupVector<TSimd, TVector, TElement, TElements, TRows>(
        ref float queries, ref TElement keys, ref TElement values, nint keyStride, nint valueStride, int firstKey, int endKey, ref float states)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TElements : struct, IRowElements<TElement>
        where TRows : struct, IConstantCount
    {
        int lanes = TSimd.Count;
        int headDim = TKernel.HeadDim, valueDim = TKernel.ValueDim;
        int queryStride = ScaledQueryLength(lanes), stateSize = OnlineSoftmax.StateSize(valueDim);

        // Each row's query once, scaled (see ScaleQuery), row g at g · queryStride.
        Span<float> scaledQueries = stackalloc float[KernelTiles.GroupRows * queryStride];
        ref float q = ref MemoryMarshal.GetReference(scaledQueries);
        float scoreFactor = 1;
        for (int g = 0; g < TRows.Count; g++)
        {
            scoreFactor = ScaleQuery<TSimd, TVector, TElement, TElements>(ref Unsafe.Add(ref queries, g * headDim), ref Unsafe.Add(ref q, g * queryStride));
        }

        // Each row's scores, then probabilities, of one tile: row g at g · GroupTile.
        Span<float> scores = stackalloc float[KernelTiles.GroupRows * GroupTile];
        ref float score = ref MemoryMarshal.GetReference(scores);
        bool farHints = KernelMath.PrefetchRowStreams;
        for (int tileStart = firstKey; tileStart < endKey; tileStart += GroupTile)
        {
            int tileLength = Math.Min(GroupTile, endKey - tileStart);
            ref TElement tileKeys = ref Unsafe.Add(ref keys, tileStart * keyStride);
            if (farHints)
            {
                ScoreGroup<TSimd, TVector, TElement, TElements, TRows, WithStreamHints>(ref q, ref tileKeys, keyStride, tileLength, scoreFactor, ref score);
            }
            else
            {
                ScoreGroup<TSimd, TVector, TElement, TElements, TRows, WithoutStreamHints>(ref q, ref tileKeys, keyStride, tileLength, scoreFactor, ref score);
            }

            int visible = 0;
            bool minusInfinity = false;
            for (int g = 0; g < TRows.Count; g++)
            {
                if (Probabilities<TSimd, TVector, TElement, TElements>(
                    ref Unsafe.Add(ref score, g * GroupTile), tileLength, default, 0, 0, ref Unsafe.Add(ref states, g * stateSize), out bool rowMinusInfinity))
                {
                    visible++;
                    minusInfinity |= rowMinusInfinity;
                }
            }

            if (visible == 0)
            {
                continue;
            }

            ref TElement tileValues = ref Unsafe.Add(ref values, tileStart * valueStride);
            bool skipZeros = minusInfinity && AnyNonFiniteValue(ref tileValues, tileLength, valueStride);
            if (visible < TRows.Count || skipZeros)
            {
                // Some row's scores are all -infinity (an infinite key), or some scores are and a value is not finite:
                // the tile adds nothing to that row, or those keys nothing to their rows, not even 0 · an infinite
                // value, so each row that does see the tile takes P·V on its own, skipping weights of 0 where a value
                // is not finite. A row Probabilities turned down still holds its scores of -infinity; the others hold
                // probabilities.
                for (int g = 0; g < TRows.Count; g++)
                {
                    ref float rowScores = ref Unsafe.Add(ref score, g * GroupTile);
                    ref float rowState = ref Unsafe.Add(ref states, g * stateSize);
                    if (rowScores == float.NegativeInfinity)
                    {
                        continue;
                    }

                    if (skipZeros)
                    {
                        AccumulateRowNonZero(ref rowScores, tileLength, ref tileValues, valueStride, ref rowState);
                    }
                    else
                    {
                        AccumulateRow<TSimd, TVector, TElement, TElements, WithoutStreamHints>(ref rowScores, tileLength, ref tileValues, valueStride, ref rowState);
                    }
                }

                continue;
            }

            // P·V, in passes over the keys that each add a part of every row's accumulator (see AccumulateGroupPasses). Where
            // there are more than two (a 16-register file), the passes go a few keys at a time, as in AccumulateRow: over
            // a whole tile, the first pass would wait on the memory for every value row, and the memory would then idle
            // through the other passes, which read the rows again from L2.
            int keysAtOnce = ValuesInChunks<TSimd, TVector>() ? KernelTiles.RowValueKeys : tileLength;
            for (int j = 0; j < tileLength; j += keysAtOnce)
            {
                if (farHints)
                {
                    AccumulateGroupPasses<TSimd, TVector, TElement, TElements, TRows, WithStreamHints>(
                        ref Unsafe.Add(ref score, j), Math.Min(keysAtOnce, tileLength - j), ref Unsafe.Add(ref tileValues, j * valueStride), valueStride, ref states, stateSize);
                }
                else
                {
                    AccumulateGroupPasses<TSimd, TVector, TElement, TElements, TRows, WithoutStreamHints>(
                        ref Unsafe.Add(ref score, j), Math.Min(keysAtOnce, tileLength - j), ref Unsafe.Add(ref tileValues, j * valueStride), valueStride, ref states, stateSize);
                }
            }
        }
    }

    /// <summary>
    /// The value elements of each row's accumulator that one pass of a group's P·V holds in registers: four vectors on a
    /// 32-register file (16 accumulators for four rows), two on a 16-register one (8).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int GroupValuesPerPass<TSimd, TVector>()
        where TSimd : struct, ISimd<TVector>
        where TVector : struct => (TSimd.HasWideRegisterFile ? 4 : 2) * TSimd.Count;

    /// <summary>
    /// Whether a group's P·V takes more than two passes, and so goes <see cref="KernelTiles.RowValueKeys"/> keys at a time
    /// rather than a whole tile at a time (see <see cref="GroupVector"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool ValuesInChunks<TSimd, TVector>()
        where TSimd : struct, ISimd<TVector>
        where TVector : struct => TKernel.ValueDim > 2 * GroupValuesPerPass<TSimd, TVector>();

    /// <summary>
    /// P·V of every row of a group over <paramref name="count"/> keys, in passes of <see cref="GroupValuesPerPass"/>
    /// value elements, then one vector at a time; the overlapping last vector adds only to the lanes the one before did not
    /// cover. Row g's probabilities are at <c>g · GroupTile</c> floats from <paramref name="p"/>, its accumulator at
    /// <c>g · stateSize</c> floats from <paramref name="states"/>. A method of its own, fully optimized from the first call,
    /// as <see cref="ScoreGroup"/>: inlined into <see cref="GroupVector"/>, its passes would exceed the JIT's inlining budget
    /// there, and the passes themselves would become calls.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AccumulateGroupPasses<TSimd, TVector, TElement, TElements, TRows, THints>(
        ref float p, int count, ref TElement values, nint valueStride, ref float states, int stateSize)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TElements : struct, IRowElements<TElement>
        where TRows : struct, IConstantCount
        where THints : struct, IStreamHints
    {
        int lanes = TSimd.Count, valueDim = TKernel.ValueDim;
        int valueWhole = valueDim / lanes * lanes;
        TVector allLanes = TSimd.LanesFrom(0);

        // The first pass, which also fetches the value rows ahead (fetchAhead, a constant here, so that no pass tests
        // it per key). But where a 16-register file's passes of two vectors go over a few keys at a time
        // (ValuesInChunks), every pass runs in the loop below, and the requests for the value rows ahead are shared out
        // over them, into L2, so that the memory is asked for rows all through the chunk's work, not in a burst in its
        // first pass and then not at all (what that gained: KernelTiles.PrefetchKeys).
        bool shareFetches = !TSimd.HasWideRegisterFile && ValuesInChunks<TSimd, TVector>();
        int pairPasses = valueWhole / (2 * lanes);
        int v;
        if (TSimd.HasWideRegisterFile && 4 * lanes <= valueWhole)
        {
            AccumulateGroup<TSimd, TVector, TElement, TElements, TRows, Count4, THints>(ref p, count, ref values, 0, valueStride, ref states, stateSize, allLanes, fetchAhead: true);
            v = 4 * lanes;
        }
        else if (shareFetches)
        {
            v = 0;
        }
        else if (2 * lanes <= valueWhole)
        {
            AccumulateGroup<TSimd, TVector, TElement, TElements, TRows, Count2, THints>(ref p, count, ref values, 0, valueStride, ref states, stateSize, allLanes, fetchAhead: true);
            v = 2 * lanes;
        }
        else
        {
            // A value row of one vector and a part (GroupsRows needs at least one).
            AccumulateGroup<TSimd, TVector, TElement, TElements, TRows, Count1, THints>(ref p, count, ref values, 0, valueStride, ref states, stateSize, allLanes, fetchAhead: true);
            v = lanes;
        }

        if (TSimd.HasWideRegisterFile)
        {
            for (; v + 4 * lanes <= valueWhole; v += 4 * lanes)
            {
                AccumulateGroup<TSimd, TVector, TElement, TElements, TRows, Count4, THints>(ref p, count, ref values, (nuint)v, valueStride, ref states, stateSize, allLanes, fetchAhead: false);
            }
        }

        for (; v + 2 * lanes <= valueWhole; v += 2 * lanes)
        {
            if (shareFetches)
            {
                FetchValueRowsAhead<TElement, THints>(ref values, count, valueStride, v / (2 * lanes), pairPasses);
            }

            AccumulateGroup<TSimd, TVector, TElement, TElements, TRows, Count2, THints>(ref p, count, ref values, (nuint)v, valueStride, ref states, stateSize, allLanes, fetchAhead: false);
        }

        if (v < valueDim)
        {
            AccumulateGroupRest<TSimd, TVector, TElement, TElements, TRows, THints>(ref p, count, ref values, v, valueStride, ref states, stateSize);
        }
    }

    /// <summary>
    /// Pass <paramref name="pass"/> of <paramref name="passes"/>' share of the requests for the value rows
    /// <see cref="KernelTiles.PrefetchKeys"/> keys ahead of the <paramref name="count"/> from <paramref name="values"/>: rows
    /// pass, pass + passes, …, each whole, into L2; with <typeparamref name="THints"/>, the rows
    /// <see cref="KernelTiles.PrefetchFarKeys"/> ahead too.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FetchValueRowsAhead<TElement, THints>(ref TElement values, int count, nint valueStride, int pass, int passes)
        where TElement : unmanaged
        where THints : struct, IStreamHints
    {
        for (int r = pass; r < count; r += passes)
        {
            ref TElement row = ref Unsafe.Add(ref values, r * valueStride);
            KernelMath.PrefetchToL2(ref Unsafe.Add(ref row, KernelTiles.PrefetchKeys * valueStride), TKernel.ValueDim);
            if (THints.Enabled)
            {
                KernelMath.PrefetchToL2(ref Unsafe.Add(ref row, KernelTiles.PrefetchFarKeys * valueStride), TKernel.ValueDim);
            }
        }
    }

    /// <summary>
    /// The passes of <see cref="AccumulateGroupPasses"/> that take one vector of each row's accumulator, from value
    /// element <paramref name="v"/> on (a value row that is not a whole number of pairs of vectors), and the overlapping
    /// last vector. A method of its own: inlined with the other passes, they exceeded the JIT's inlining budget there
    /// (a Half cache on Vector128), and their loop over the keys kept its accumulators on the stack around the calls
    /// left in it.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void AccumulateGroupRest<TSimd, TVector, TElement, TElements, TRows, THints>(
        ref float p, int count, ref TElement values, int v, nint valueStride, ref float states, int stateSize)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TElements : struct, IRowElements<TElement>
        where TRows : struct, IConstantCount
        where THints : struct, IStreamHints
    {
        int lanes = TSimd.Count, valueDim = TKernel.ValueDim;
        int valueWhole = valueDim / lanes * lanes;
        for (; v < valueWhole; v += lanes)
        {
            AccumulateGroup<TSimd, TVector, TElement, TElements, TRows, Count1, THints>(ref p, count, ref values, (nuint)v, valueStride, ref states, stateSize, TSimd.LanesFrom(0), fetchAhead: false);
        }

        if (valueWhole != valueDim)
        {
            AccumulateGroup<TSimd, TVector, TElement, TElements, TRows, Count1, THints>(ref p, count, ref values, (nuint)(valueDim - lanes), valueStride, ref states, stateSize, TSimd.LanesFrom(valueWhole + lanes - valueDim), fetchAhead: false);
        }
    }

    /// <summary>
    /// The scores of every row of a group against <paramref name="count"/> keys, <paramref name="keyStride"/> elements
    /// apart: four keys at a time on a 32-register file (<see cref="ScoreFour"/>), else two, each key vector loaded once for
    /// all rows; row g's scaled query at <c>g · ScaledQueryLength(lanes)</c> floats from <paramref name="q"/> (as
    /// <see cref="GroupVector"/> lays them out), its scores at <c>g · GroupTile</c> floats from <paramref name="score"/>. The
    /// loop over the head of a pair of keys takes two vectors per step and walks by moving references, so that every load
    /// is one instruction with a constant displacement. Each step asks for its keys <see cref="KernelTiles.PrefetchKeys"/>
    /// ahead into L1, and with <typeparamref name="THints"/> <see cref="KernelTiles.PrefetchFarKeys"/> ahead into L2. A method
    /// of its own, fully optimized from the first call (the JIT declines to inline it into <see cref="GroupVector"/>, and
    /// would otherwise run it instrumented first).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScoreGroup<TSimd, TVector, TElement, TElements, TRows, THints>(
        ref float q, ref TElement keys, nint keyStride, int count, float scoreFactor, ref float score)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TElements : struct, IRowElements<TElement>
        where TRows : struct, IConstantCount
        where THints : struct, IStreamHints
    {
        int lanes = TSimd.Count, headDim = TKernel.HeadDim;
        int headWhole = headDim / lanes * lanes;
        int rows = TRows.Count;
        nuint n = (nuint)lanes, q1 = (nuint)ScaledQueryLength(lanes), q2 = 2 * q1, q3 = 3 * q1;
        nuint tailKey = (nuint)(headDim - lanes), tailQuery = (nuint)headWhole;
        Vector128<float> factor = Vector128.Create(scoreFactor);
        int j = 0;
        if (TSimd.HasWideRegisterFile)
        {
            // Four keys at a time where 32 registers hold their 16 sums: twice the independent chains of two keys, each
            // query vector loaded once per four keys, and each row's four scores stored as one vector.
            for (; j + 4 <= count; j += 4)
            {
                ScoreFour<TSimd, TVector, TElement, TElements, TRows, THints>(ref q, ref Unsafe.Add(ref keys, j * keyStride), keyStride, factor, ref Unsafe.Add(ref score, j));
            }
        }

        for (; j + 2 <= count; j += 2)
        {
            ref TElement ka = ref Unsafe.Add(ref keys, j * keyStride);
            ref TElement kb = ref Unsafe.Add(ref ka, keyStride);
            KernelMath.Prefetch(ref Unsafe.Add(ref ka, KernelTiles.PrefetchKeys * keyStride), headDim);
            KernelMath.Prefetch(ref Unsafe.Add(ref kb, KernelTiles.PrefetchKeys * keyStride), headDim);
            if (THints.Enabled)
            {
                KernelMath.PrefetchToL2(ref Unsafe.Add(ref ka, KernelTiles.PrefetchFarKeys * keyStride), headDim);
                KernelMath.PrefetchToL2(ref Unsafe.Add(ref kb, KernelTiles.PrefetchFarKeys * keyStride), headDim);
            }

            TVector a0 = TSimd.Zero, a1 = TSimd.Zero, a2 = TSimd.Zero, a3 = TSimd.Zero;
            TVector b0 = TSimd.Zero, b1 = TSimd.Zero, b2 = TSimd.Zero, b3 = TSimd.Zero;
            ref float qi = ref q;
            ref TElement ai = ref ka;
            ref TElement bi = ref kb;
            int i = 0;
            for (; i + 2 * lanes <= headWhole; i += 2 * lanes)
            {
                Dot2<TSimd, TVector, TRows>(
                    TElements.Load<TSimd, TVector>(ref ai, 0), TElements.Load<TSimd, TVector>(ref bi, 0), ref qi, 0, q1, q2, q3,
                    ref a0, ref a1, ref a2, ref a3, ref b0, ref b1, ref b2, ref b3);
                Dot2<TSimd, TVector, TRows>(
                    TElements.Load<TSimd, TVector>(ref ai, n), TElements.Load<TSimd, TVector>(ref bi, n), ref qi, n, q1, q2, q3,
                    ref a0, ref a1, ref a2, ref a3, ref b0, ref b1, ref b2, ref b3);
                qi = ref Unsafe.Add(ref qi, 2 * lanes);
                ai = ref Unsafe.Add(ref ai, 2 * lanes);
                bi = ref Unsafe.Add(ref bi, 2 * lanes);
            }

            if (i < headWhole)
            {
                Dot2<TSimd, TVector, TRows>(
                    TElements.Load<TSimd, TVector>(ref ai, 0), TElements.Load<TSimd, TVector>(ref bi, 0), ref qi, 0, q1, q2, q3,
                    ref a0, ref a1, ref a2, ref a3, ref b0, ref b1, ref b2, ref b3);
            }

            if (headWhole != headDim)
            {
                Dot2<TSimd, TVector, TRows>(
                    TElements.Load<TSimd, TVector>(ref ka, tailKey), TElements.Load<TSimd, TVector>(ref kb, tailKey), ref q, tailQuery, q1, q2, q3,
                    ref a0, ref a1, ref a2, ref a3, ref b0, ref b1, ref b2, ref b3);
            }

            if (rows == 2)
            {
                StoreScores2x2(TSimd.SumAcross4(a0, b0, a1, b1) * factor, ref Unsafe.Add(ref score, j));
            }
            else
            {
                // With three rows, the fourth accumulators stay zero.
                StoreScores(TSimd.SumAcross4(a0, a1, a2, a3) * factor, ref Unsafe.Add(ref score, j), rows);
                StoreScores(TSimd.SumAcross4(b0, b1, b2, b3) * factor, ref Unsafe.Add(ref score, j + 1), rows);
            }
        }

        if (j < count)
        {
            // The tile's last key, when its length is odd: the same with its own row as the second.
            ref TElement ka = ref Unsafe.Add(ref keys, j * keyStride);
            TVector a0 = TSimd.Zero, a1 = TSimd.Zero, a2 = TSimd.Zero, a3 = TSimd.Zero;
            TVector b0 = TSimd.Zero, b1 = TSimd.Zero, b2 = TSimd.Zero, b3 = TSimd.Zero;
            for (int i = 0; i < headWhole; i += lanes)
            {
                TVector k = TElements.Load<TSimd, TVector>(ref ka, (nuint)i);
                Dot2<TSimd, TVector, TRows>(k, k, ref q, (nuint)i, q1, q2, q3, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1, ref b2, ref b3);
            }

            if (headWhole != headDim)
            {
                TVector k = TElements.Load<TSimd, TVector>(ref ka, tailKey);
                Dot2<TSimd, TVector, TRows>(k, k, ref q, tailQuery, q1, q2, q3, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1, ref b2, ref b3);
            }

            StoreScores(TSimd.SumAcross4(a0, a1, a2, a3) * factor, ref Unsafe.Add(ref score, j), rows);
        }
    }

    /// <summary>
    /// The scores of every row of a group against four keys, <paramref name="keyStride"/> elements apart from
    /// <paramref name="keys"/>: 16 sums for four rows, each key vector loaded (and a half widened) once for all rows, each
    /// query vector once for all keys. Row g's four scores go to <c>g · GroupTile</c> floats from <paramref name="score"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScoreFour<TSimd, TVector, TElement, TElements, TRows, THints>(
        ref float q, ref TElement keys, nint keyStride, Vector128<float> factor, ref float score)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TElements : struct, IRowElements<TElement>
        where TRows : struct, IConstantCount
        where THints : struct, IStreamHints
    {
        int lanes = TSimd.Count, headDim = TKernel.HeadDim;
        int headWhole = headDim / lanes * lanes;
        nuint q1 = (nuint)ScaledQueryLength(lanes);
        ref TElement kb = ref Unsafe.Add(ref keys, keyStride);
        ref TElement kc = ref Unsafe.Add(ref kb, keyStride);
        ref TElement kd = ref Unsafe.Add(ref kc, keyStride);
        KernelMath.Prefetch(ref Unsafe.Add(ref keys, KernelTiles.PrefetchKeys * keyStride), headDim);
        KernelMath.Prefetch(ref Unsafe.Add(ref kb, KernelTiles.PrefetchKeys * keyStride), headDim);
        KernelMath.Prefetch(ref Unsafe.Add(ref kc, KernelTiles.PrefetchKeys * keyStride), headDim);
        KernelMath.Prefetch(ref Unsafe.Add(ref kd, KernelTiles.PrefetchKeys * keyStride), headDim);
        if (THints.Enabled)
        {
            KernelMath.PrefetchToL2(ref Unsafe.Add(ref keys, KernelTiles.PrefetchFarKeys * keyStride), headDim);
            KernelMath.PrefetchToL2(ref Unsafe.Add(ref kb, KernelTiles.PrefetchFarKeys * keyStride), headDim);
            KernelMath.PrefetchToL2(ref Unsafe.Add(ref kc, KernelTiles.PrefetchFarKeys * keyStride), headDim);
            KernelMath.PrefetchToL2(ref Unsafe.Add(ref kd, KernelTiles.PrefetchFarKeys * keyStride), headDim);
        }

        // Row g's sums against keys a to d.
        TVector a0 = TSimd.Zero, b0 = TSimd.Zero, c0 = TSimd.Zero, d0 = TSimd.Zero;
        TVector a1 = TSimd.Zero, b1 = TSimd.Zero, c1 = TSimd.Zero, d1 = TSimd.Zero;
        TVector a2 = TSimd.Zero, b2 = TSimd.Zero, c2 = TSimd.Zero, d2 = TSimd.Zero;
        TVector a3 = TSimd.Zero, b3 = TSimd.Zero, c3 = TSimd.Zero, d3 = TSimd.Zero;
        for (int i = 0; i < headWhole; i += lanes)
        {
            Dot4<TSimd, TVector, TElement, TElements, TRows>(
                ref keys, ref kb, ref kc, ref kd, (nuint)i, ref q, (nuint)i, q1,
                ref a0, ref b0, ref c0, ref d0, ref a1, ref b1, ref c1, ref d1, ref a2, ref b2, ref c2, ref d2, ref a3, ref b3, ref c3, ref d3);
        }

        if (headWhole != headDim)
        {
            Dot4<TSimd, TVector, TElement, TElements, TRows>(
                ref keys, ref kb, ref kc, ref kd, (nuint)(headDim - lanes), ref q, (nuint)headWhole, q1,
                ref a0, ref b0, ref c0, ref d0, ref a1, ref b1, ref c1, ref d1, ref a2, ref b2, ref c2, ref d2, ref a3, ref b3, ref c3, ref d3);
        }

        (TSimd.SumAcross4(a0, b0, c0, d0) * factor).StoreUnsafe(ref score);
        (TSimd.SumAcross4(a1, b1, c1, d1) * factor).StoreUnsafe(ref Unsafe.Add(ref score, GroupTile));
        if (TRows.Count > 2)
        {
            (TSimd.SumAcross4(a2, b2, c2, d2) * factor).StoreUnsafe(ref Unsafe.Add(ref score, 2 * GroupTile));
        }

        if (TRows.Count > 3)
        {
            (TSimd.SumAcross4(a3, b3, c3, d3) * factor).StoreUnsafe(ref Unsafe.Add(ref score, 3 * GroupTile));
        }
    }

    /// <summary>
    /// One vector of four keys (at <paramref name="keyOffset"/> elements from each) multiplied into every row's sums: row
    /// g's query vector at <paramref name="queryOffset"/> plus g query strides from <paramref name="q"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot4<TSimd, TVector, TElement, TElements, TRows>(
        ref TElement ka, ref TElement kb, ref TElement kc, ref TElement kd, nuint keyOffset, ref float q, nuint queryOffset, nuint q1,
        ref TVector a0, ref TVector b0, ref TVector c0, ref TVector d0, ref TVector a1, ref TVector b1, ref TVector c1, ref TVector d1,
        ref TVector a2, ref TVector b2, ref TVector c2, ref TVector d2, ref TVector a3, ref TVector b3, ref TVector c3, ref TVector d3)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TElements : struct, IRowElements<TElement>
        where TRows : struct, IConstantCount
    {
        TVector k0 = TElements.Load<TSimd, TVector>(ref ka, keyOffset);
        TVector k1 = TElements.Load<TSimd, TVector>(ref kb, keyOffset);
        TVector k2 = TElements.Load<TSimd, TVector>(ref kc, keyOffset);
        TVector k3 = TElements.Load<TSimd, TVector>(ref kd, keyOffset);
        Dot4Row<TSimd, TVector>(TSimd.Load(ref q, queryOffset), k0, k1, k2, k3, ref a0, ref b0, ref c0, ref d0);
        Dot4Row<TSimd, TVector>(TSimd.Load(ref q, queryOffset + q1), k0, k1, k2, k3, ref a1, ref b1, ref c1, ref d1);
        if (TRows.Count > 2)
        {
            Dot4Row<TSimd, TVector>(TSimd.Load(ref q, queryOffset + 2 * q1), k0, k1, k2, k3, ref a2, ref b2, ref c2, ref d2);
        }

        if (TRows.Count > 3)
        {
            Dot4Row<TSimd, TVector>(TSimd.Load(ref q, queryOffset + 3 * q1), k0, k1, k2, k3, ref a3, ref b3, ref c3, ref d3);
        }
    }

    /// <summary>One row's query vector <paramref name="x"/> times four keys' vectors, into its four sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot4Row<TSimd, TVector>(
        TVector x, TVector k0, TVector k1, TVector k2, TVector k3, ref TVector a, ref TVector b, ref TVector c, ref TVector d)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
    {
        a = TSimd.MultiplyAdd(x, k0, a);
        b = TSimd.MultiplyAdd(x, k1, b);
        c = TSimd.MultiplyAdd(x, k2, c);
        d = TSimd.MultiplyAdd(x, k3, d);
    }

    /// <summary>
    /// Stores the scores of one key: lane g of <paramref name="scores"/> to row g's score, at <c>g · GroupTile</c> floats
    /// from <paramref name="score"/> (row 0's score of the key), for the first <paramref name="rows"/> rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreScores(Vector128<float> scores, ref float score, int rows)
    {
        score = scores.ToScalar();
        Unsafe.Add(ref score, GroupTile) = scores.GetElement(1);
        if (rows > 2)
        {
            Unsafe.Add(ref score, 2 * GroupTile) = scores.GetElement(2);
        }

        if (rows > 3)
        {
            Unsafe.Add(ref score, 3 * GroupTile) = scores.GetElement(3);
        }
    }

    /// <summary>
    /// The scores of two rows and two keys, from row 0's score of the first key at <paramref name="score"/>: lanes
    /// (row 0, key j), (row 0, key j + 1), (row 1, key j), (row 1, key j + 1).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreScores2x2(Vector128<float> scores, ref float score)
    {
        score = scores.ToScalar();
        Unsafe.Add(ref score, 1) = scores.GetElement(1);
        Unsafe.Add(ref score, GroupTile) = scores.GetElement(2);
        Unsafe.Add(ref score, GroupTile + 1) = scores.GetElement(3);
    }

    /// <summary>
    /// One vector of two keys, <paramref name="ka"/> and <paramref name="kb"/>, multiplied into every row's partial
    /// scores: row g's query vector at <paramref name="offset"/> plus g query strides from <paramref name="q"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot2<TSimd, TVector, TRows>(
        TVector ka, TVector kb, ref float q, nuint offset, nuint q1, nuint q2, nuint q3,
        ref TVector a0, ref TVector a1, ref TVector a2, ref TVector a3, ref TVector b0, ref TVector b1, ref TVector b2, ref TVector b3)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TRows : struct, IConstantCount
    {
        TVector x = TSimd.Load(ref q, offset);
        a0 = TSimd.MultiplyAdd(x, ka, a0);
        b0 = TSimd.MultiplyAdd(x, kb, b0);
        x = TSimd.Load(ref q, offset + q1);
        a1 = TSimd.MultiplyAdd(x, ka, a1);
        b1 = TSimd.MultiplyAdd(x, kb, b1);
        if (TRows.Count > 2)
        {
            x = TSimd.Load(ref q, offset + q2);
            a2 = TSimd.MultiplyAdd(x, ka, a2);
            b2 = TSimd.MultiplyAdd(x, kb, b2);
        }

        if (TRows.Count > 3)
        {
            x = TSimd.Load(ref q, offset + q3);
            a3 = TSimd.MultiplyAdd(x, ka, a3);
            b3 = TSimd.MultiplyAdd(x, kb, b3);
        }
    }

    /// <summary>
    /// P·V for every row of a group into <typeparamref name="TVectors"/> consecutive vectors of its accumulator from
    /// <paramref name="offset"/>: the sums held in registers over <paramref name="count"/> keys, each value vector
    /// loaded once for all rows, then added to the accumulators (row g's at <c>g · stateSize</c> floats from
    /// <paramref name="states"/>) in the lanes <paramref name="added"/> selects. Row g's probabilities are at
    /// <c>g · GroupTile</c> floats from <paramref name="p"/>. The pass that <paramref name="fetchAhead"/> (the first over
    /// the keys) also asks for each value row <see cref="KernelTiles.PrefetchKeys"/> keys ahead into L1, and with
    /// <typeparamref name="THints"/> the one <see cref="KernelTiles.PrefetchFarKeys"/> ahead into L2.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AccumulateGroup<TSimd, TVector, TElement, TElements, TRows, TVectors, THints>(
        ref float p, int count, ref TElement v, nuint offset, nint valueStride, ref float states, int stateSize, TVector added, bool fetchAhead)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TElements : struct, IRowElements<TElement>
        where TRows : struct, IConstantCount
        where TVectors : struct, IConstantCount
        where THints : struct, IStreamHints
    {
        int rows = TRows.Count, vectors = TVectors.Count;
        nuint n = (nuint)TSimd.Count;
        TVector s00 = TSimd.Zero, s01 = TSimd.Zero, s02 = TSimd.Zero, s03 = TSimd.Zero;
        TVector s10 = TSimd.Zero, s11 = TSimd.Zero, s12 = TSimd.Zero, s13 = TSimd.Zero;
        TVector s20 = TSimd.Zero, s21 = TSimd.Zero, s22 = TSimd.Zero, s23 = TSimd.Zero;
        TVector s30 = TSimd.Zero, s31 = TSimd.Zero, s32 = TSimd.Zero, s33 = TSimd.Zero;
        ref TElement row = ref Unsafe.Add(ref v, offset);
        ref float pj = ref p;
        for (int j = 0; j < count; j++, row = ref Unsafe.Add(ref row, valueStride), pj = ref Unsafe.Add(ref pj, 1))
        {
            if (fetchAhead)
            {
                KernelMath.Prefetch(ref Unsafe.Add(ref row, KernelTiles.PrefetchKeys * valueStride), TKernel.ValueDim);
                if (THints.Enabled)
                {
                    KernelMath.PrefetchToL2(ref Unsafe.Add(ref row, KernelTiles.PrefetchFarKeys * valueStride), TKernel.ValueDim);
                }
            }

            TVector v0 = TElements.Load<TSimd, TVector>(ref row, 0);
            TVector v1 = vectors > 1 ? TElements.Load<TSimd, TVector>(ref row, n) : default;
            TVector v2 = vectors > 2 ? TElements.Load<TSimd, TVector>(ref row, 2 * n) : default;
            TVector v3 = vectors > 3 ? TElements.Load<TSimd, TVector>(ref row, 3 * n) : default;
            Weigh<TSimd, TVector, TVectors>(TSimd.ScalarFrom(ref pj), v0, v1, v2, v3, ref s00, ref s01, ref s02, ref s03);
            Weigh<TSimd, TVector, TVectors>(TSimd.ScalarFrom(ref Unsafe.Add(ref pj, GroupTile)), v0, v1, v2, v3, ref s10, ref s11, ref s12, ref s13);
            if (rows > 2)
            {
                Weigh<TSimd, TVector, TVectors>(TSimd.ScalarFrom(ref Unsafe.Add(ref pj, 2 * GroupTile)), v0, v1, v2, v3, ref s20, ref s21, ref s22, ref s23);
            }

            if (rows > 3)
            {
                Weigh<TSimd, TVector, TVectors>(TSimd.ScalarFrom(ref Unsafe.Add(ref pj, 3 * GroupTile)), v0, v1, v2, v3, ref s30, ref s31, ref s32, ref s33);
            }
        }

        AddTo<TSimd, TVector, TVectors>(ref Unsafe.Add(ref states, offset), added, s00, s01, s02, s03);
        AddTo<TSimd, TVector, TVectors>(ref Unsafe.Add(ref states, (nint)offset + stateSize), added, s10, s11, s12, s13);
        if (rows > 2)
        {
            AddTo<TSimd, TVector, TVectors>(ref Unsafe.Add(ref states, (nint)offset + 2 * stateSize), added, s20, s21, s22, s23);
        }

        if (rows > 3)
        {
            AddTo<TSimd, TVector, TVectors>(ref Unsafe.Add(ref states, (nint)offset + 3 * stateSize), added, s30, s31, s32, s33);
        }
    }

    /// <summary>One row's weight <paramref name="w"/> times up to four value vectors, into its sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Weigh<TSimd, TVector, TVectors>(
        TVector w, TVector v0, TVector v1, TVector v2, TVector v3, ref TVector s0, ref TVector s1, ref TVector s2, ref TVector s3)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TVectors : struct, IConstantCount
    {
        s0 = TSimd.MultiplyAddScalar(v0, w, s0);
        if (TVectors.Count > 1)
        {
            s1 = TSimd.MultiplyAddScalar(v1, w, s1);
        }

        if (TVectors.Count > 2)
        {
            s2 = TSimd.MultiplyAddScalar(v2, w, s2);
        }

        if (TVectors.Count > 3)
        {
            s3 = TSimd.MultiplyAddScalar(v3, w, s3);
        }
    }

    /// <summary>Adds up to four sums to consecutive vectors of one row's accumulator, in the lanes <paramref name="added"/> selects.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddTo<TSimd, TVector, TVectors>(ref float o, TVector added, TVector s0, TVector s1, TVector s2, TVector s3)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TVectors : struct, IConstantCount
    {
        nuint n = (nuint)TSimd.Count;
        TSimd.Store(TSimd.Add(TSimd.Load(ref o, 0), TSimd.And(s0, added)), ref o, 0);
        if (TVectors.Count > 1)
        {
            TSimd.Store(TSimd.Add(TSimd.Load(ref o, n), s1), ref o, n);
        }

        if (TVectors.Count > 2)
        {
            TSimd.Store(TSimd.Add(TSimd.Load(ref o, 2 * n), s2), ref o, 2 * n);
        }

        if (TVectors.Count > 3)
        {
            TSimd.Store(TSimd.Add(TSimd.Load(ref o, 3 * n), s3), ref o, 3 * n);
        }
    }
}
