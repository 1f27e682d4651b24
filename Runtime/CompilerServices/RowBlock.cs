using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace AttentionGen.CompilerServices;

/// <summary>
/// The row-block kernel, written once for every width: a block of query rows, one per lane, against tiles of keys.
/// Keeping rows in lanes makes both matrix products broadcast-and-FMA register blocks with no horizontal sums (the
/// generated <see cref="IAttentionKernel.ScoreKeys16"/> and <see cref="IAttentionKernel.Accumulate16"/>), makes the online
/// softmax purely element-wise, and lets any head size run on any width.
/// </summary>
/// <typeparam name="TKernel">The generated kernel.</typeparam>
internal static class RowBlock<TKernel>
    where TKernel : struct, IAttentionKernel
{
    /// <summary>
    /// Computes up to <typeparamref name="TSimd"/>.Count query rows at once, one row per lane. Per tile of keys: Q·Kᵀ as
    /// register blocks of keys (6 against rows in pairs of vectors, with AVX-512 or on a 16-register file; else 16 on a
    /// 32-register file, 12 on a 16-register one), the online softmax lane by lane, and P·V accumulated into the block's
    /// output, which lives transposed in scratch. Where rows are in pairs, keys that only the upper half sees (the causal
    /// diagonal's last) go first, against that half alone (<see cref="UpperHalfKeys"/>).
    /// </summary>
    /// <param name="query">The first row's query; the next rows follow every QueryRowStride floats.</param>
    /// <param name="keys">
    /// Key row 0 of the (batch entry, key/value head); rows lie <typeparamref name="TRows"/>.KeyStride floats apart. In
    /// memory that does not move, as are <paramref name="values"/>: the register blocks broadcast from their addresses.
    /// </param>
    /// <param name="values">Value row 0; rows lie <typeparamref name="TRows"/>.ValueStride floats apart.</param>
    /// <param name="output">The first row's output; the next rows follow every OutputRowStride floats.</param>
    /// <param name="rows">The rows to compute, from 1 to the lane count.</param>
    /// <param name="position">The first row's key position, for the positional masks.</param>
    /// <param name="valid">The keys that exist (the rest are padding).</param>
    /// <param name="mask">With an explicit mask, the mask.</param>
    /// <param name="b">The batch entry, for the explicit mask.</param>
    /// <param name="head">The query head, for the explicit mask.</param>
    /// <param name="firstRow">The first row's query index, for the explicit mask.</param>
    /// <param name="outputs">With <typeparamref name="TExtras"/> enabled, the attention weights and log-sum-exps wanted.</param>
    /// <param name="skipZeroWeights">
    /// Whether every tile whose values are not all finite adds only its weights that are not 0: how the block is computed
    /// again when a weight of 0 met an infinite value in a key every row sees (see the end of the method).
    /// </param>
    /// <remarks>
    /// TPart: where TSimd is a <see cref="SimdPair{TSimd, TVector}"/> (rows in pairs of vectors), the width of each of its
    /// vectors, which the paired register blocks work in; else TSimd itself.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Run<TSimd, TVector, TPart, TPartVector, TRows, TExtras>(
        ref float query, ref float keys, ref float values, ref float output, int rows, long position, int valid,
        scoped in ExplicitMask mask, int b, int head, int firstRow, scoped in RowOutputs outputs, bool skipZeroWeights = false)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TPart : struct, ISimd<TPartVector>
        where TPartVector : struct
        where TRows : struct, IKeyValueRows
        where TExtras : struct, IRowExtras
    {
        int lanes = TSimd.Count;
        int block = RegisterBlock<TSimd, TVector>();
        int headDim = TKernel.HeadDim, valueDim = TKernel.ValueDim;
        const int keyTile = KernelTiles.KeyTile;
        bool positional = (TKernel.Mask & (AttentionMask.Causal | AttentionMask.SlidingWindow)) != 0;
        bool explicitMask = (TKernel.Mask & AttentionMask.Explicit) != 0;

        // Scratch: the scaled queries transposed [HeadDim][lanes], one tile of scores or probabilities [KeyTile][lanes],
        // the output accumulators [ValueDim][lanes], and, where key rows lie a multiple of 4 KiB apart (TRows.PackKeys),
        // one register block's keys copied into consecutive rows [block][HeadDim], since they would otherwise compete
        // for one L1 cache set.
        // With probabilities wanted, each tile's running maximum follows, [tile][lanes], to rescale its probabilities at the end.
        // Rows in pairs of vectors also keep room for their upper half's queries and accumulators, [HeadDim + ValueDim][half
        // the lanes], for the keys only that half sees (UpperHalfKeys), which score in register blocks of that half's width.
        int half = TSimd.Registers == 2 ? TPart.Count : 0;
        int packed = TRows.PackKeys ? Math.Max(block, half == 0 ? 0 : RegisterBlock<TPart, TPartVector>()) * headDim : 0;
        bool writesProbabilities = TExtras.Enabled && outputs.WritesWeights && outputs.Kind == AttentionWeights.Probabilities;
        // With weights wanted, the block's rows of weights are staged there too, [lanes][keyLength + 16], and streamed out
        // once finished: the rows stay in cache while the tiles are written and rescaled.
        int tiles = writesProbabilities ? (outputs.KeyLength + keyTile - 1) / keyTile : 0;
        int staging = TExtras.Enabled && outputs.WritesWeights ? lanes * RowOutputs.StagingStride(outputs.KeyLength) : 0;
        Span<float> scratch = KernelScratch.Get((headDim + keyTile + valueDim) * lanes + packed + tiles * lanes + staging + (headDim + valueDim) * half);
        ref float qT = ref MemoryMarshal.GetReference(scratch);
        ref float sT = ref Unsafe.Add(ref qT, headDim * lanes);
        ref float oT = ref Unsafe.Add(ref sT, keyTile * lanes);
        ref float packedKeys = ref Unsafe.Add(ref oT, valueDim * lanes);
        ref float tileMaxima = ref Unsafe.Add(ref packedKeys, packed);
        RowOutputs rowOutputs = staging > 0 ? outputs.StagedAt(ref Unsafe.Add(ref tileMaxima, tiles * lanes)) : outputs;
        ref float halfScratch = ref Unsafe.Add(ref tileMaxima, tiles * lanes + staging);
        scratch.Slice((headDim + keyTile) * lanes, valueDim * lanes).Clear();

        // Transpose the rows into lanes, scaled, and find each row's visible keys. Lanes past the last row repeat it;
        // their results are never stored.
        Span<int> firstKeys = stackalloc int[TSimd.Count];
        Span<int> endKeys = stackalloc int[TSimd.Count];
        Span<int> maskStarts = stackalloc int[explicitMask ? TSimd.Count : 0];
        int unionFirst = int.MaxValue, unionEnd = 0, sharedFirst = 0, sharedEnd = int.MaxValue;
        LaneTranspose.RowsIntoLanes(ref query, AttentionWork<TKernel>.QueryRowStride, rows, headDim, lanes, TKernel.Scale, ref qT);
        for (int r = 0; r < lanes; r++)
        {
            int source = Math.Min(r, rows - 1);
            TKernel.VisibleRange(position + source, valid, out int firstKey, out int endKey);
            firstKeys[r] = firstKey;
            endKeys[r] = endKey;
            if (explicitMask)
            {
                maskStarts[r] = mask.GetRowStart(b, head, firstRow + source);
            }

            sharedFirst = Math.Max(sharedFirst, firstKey);
            sharedEnd = Math.Min(sharedEnd, endKey);
            if (firstKey < endKey)
            {
                unionFirst = Math.Min(unionFirst, firstKey);
                unionEnd = Math.Max(unionEnd, endKey);
            }
        }

        // Weights that are scores before the masks exist for every key, seen or not: then the block walks them all, and
        // the masks below hide what each row does not see.
        bool writesWeights = TExtras.Enabled && outputs.WritesWeights;
        if (TExtras.Enabled && outputs.NeedsEveryKey)
        {
            unionFirst = 0;
            unionEnd = outputs.KeyLength;
        }

        TVector rowMax = TSimd.Create(float.NegativeInfinity);
        TVector rowSum = TSimd.Zero;

        // On the causal diagonal, a block of rows in pairs of vectors ends on keys that only its upper half sees (the last
        // 16 of a block of 32 rows' keys with AVX-512), in which the lower half's lanes would score and add only masked
        // keys: 10% of the pairs computed in causal attention over 128 tokens, 3% over 512. Those keys go first, against
        // the upper half alone, one vector of rows, when they fill one of its register blocks: with AVX-512. (On a
        // 16-register file the half's 8 or 4 keys fill none, and the pairs keep them; so does the block's second
        // computation, below, which skips the weights of 0 on every tile whose values are not all finite.) On
        // Zen 4 that made causal attention over 128 tokens 7–8% faster on one thread in BenchmarkDotNet (13% on two); over
        // 512 tokens it moved one thread by no more than the host's spread, and two about 5% (docs/PERFORMANCE.md).
        int pairedEnd = unionEnd;
        if (half != 0 && positional && !explicitMask && !TExtras.Enabled && !skipZeroWeights)
        {
            int lowerEnd = unionFirst;
            for (int r = 0; r < half; r++)
            {
                if (firstKeys[r] < endKeys[r])
                {
                    lowerEnd = Math.Max(lowerEnd, endKeys[r]);
                }
            }

            if (unionEnd - lowerEnd >= RegisterBlock<TPart, TPartVector>() && unionEnd - lowerEnd <= keyTile)
            {
                UpperHalfKeys<TPart, TPartVector, TRows>(
                    ref qT, ref keys, ref values, lowerEnd, unionEnd, ref sT, ref oT, ref halfScratch, ref packedKeys,
                    firstKeys[half..], endKeys[half..], out TPartVector upperMax, out TPartVector upperSum);
                VectorPair<TPartVector> maxima = new(TPart.Create(float.NegativeInfinity), upperMax), sums = new(TPart.Zero, upperSum);
                rowMax = Unsafe.As<VectorPair<TPartVector>, TVector>(ref maxima);
                rowSum = Unsafe.As<VectorPair<TPartVector>, TVector>(ref sums);
                pairedEnd = lowerEnd;
            }
        }

        // Walk the keys that any row sees; keys no row sees are never read. Every other row block of a head walks its
        // tiles from the last to the first, so that it starts on the keys and values the block before it read last,
        // which are still in L2 where a head's keys and values are more than L2 holds. On an Intel Xeon (family 6 model
        // 207, AVX-512, 2 MB of L2), probes alternating both orders in one process made 8 heads of 128 over 2048 and 4096
        // tokens 4–6% faster on one thread and two, causal 2%, and moved nothing where the head fits (512 tokens) or the
        // block reads one tile. The order is the block's, not the thread's, so a row's result does not depend on the
        // threads.
        int tileCount = pairedEnd > unionFirst ? (pairedEnd - unionFirst - 1) / keyTile + 1 : 0;
        bool backward = (firstRow / lanes & 1) != 0;
        for (int t = 0; t < tileCount; t++)
        {
            int tileStart = unionFirst + (backward ? tileCount - 1 - t : t) * keyTile;
            int count = Math.Min(keyTile, pairedEnd - tileStart);

            // Scores: s = (scale · q) · k for every row and key of the tile, one register block of keys at a time.
            ScoreTile<TSimd, TVector, TPart, TPartVector, TRows>(ref qT, ref Unsafe.Add(ref keys, (nint)tileStart * TRows.KeyStride), count, ref sT, ref packedKeys);

            if (writesWeights && outputs.Kind == AttentionWeights.Scores)
            {
                rowOutputs.WriteTile(ref sT, lanes, rows, tileStart, count);
            }

            SoftCap<TSimd, TVector>(ref sT, lanes, count);

            if (writesWeights && outputs.Kind == AttentionWeights.SoftcappedScores)
            {
                rowOutputs.WriteTile(ref sT, lanes, rows, tileStart, count);
            }

            // Whether some row of the block does not see some key of this tile, whose weight is then 0 in that lane, and
            // the keys every row sees, [seenFirst, seenEnd).
            bool partial = false;
            int seenFirst = sharedFirst, seenEnd = sharedEnd;
            if (explicitMask)
            {
                // The explicit mask, row by row: lane r's scores lie every `lanes` floats from element r. A key it hides
                // may be any key.
                for (int r = 0; r < lanes; r++)
                {
                    if (MaskedValues.ApplyExplicitMask(scratch.Slice(headDim * lanes + r), lanes, tileStart, count, in mask, maskStarts[r]))
                    {
                        partial = true;
                        seenEnd = seenFirst;
                    }
                }
            }

            if ((positional || writesWeights) && (tileStart < sharedFirst || tileStart + count > sharedEnd))
            {
                // Where the rows' visible ranges differ inside this tile (the causal diagonal, window edges), keys
                // outside a row's own range get -infinity in its lane. Tiles that every row sees whole skip this, and
                // so do the keys of this one that every row sees, [seenFrom, seenTo) of the tile (none if the rows
                // share no key): on the causal diagonal only the block's last rows' keys are left.
                partial = true;
                int seenFrom = Math.Clamp(sharedFirst - tileStart, 0, count);
                int seenTo = Math.Clamp(sharedEnd - tileStart, seenFrom, count);
                MaskOutside<TSimd, TVector>(ref sT, lanes, 0, seenFrom, tileStart, firstKeys, endKeys);
                MaskOutside<TSimd, TVector>(ref sT, lanes, seenTo, count, tileStart, firstKeys, endKeys);
            }

            if (writesWeights && outputs.Kind == AttentionWeights.MaskedScores)
            {
                rowOutputs.WriteTile(ref sT, lanes, rows, tileStart, count);
            }

            // Online softmax, lane by lane: the tile's maximum, the running maximum, and the factor exp(old − new) by
            // which the running sum and the accumulators shrink when it grows (exactly 1 when it does not).
            TVector tileMax = TileMaximum<TSimd, TVector>(ref sT, lanes, count);
            TVector newMax = TSimd.Max(rowMax, tileMax);

            // A lane that has seen only masked keys still has a maximum of -infinity; exp is taken against 0 there, so
            // its probabilities are 0 rather than NaN.
            TVector shift = TSimd.ZeroWhereNegativeInfinity(newMax);
            TVector correction = TSimd.ExpNonPositive(TSimd.Subtract(rowMax, shift));
            rowMax = newMax;

            // Probabilities p = exp(s - max), written over the scores. Where rows are in pairs of vectors, one half at a
            // time: both halves at once keep two maxima, two sums and two exps' temporaries live beside exp's ten
            // constants, more than a 16-register file holds (the JIT kept the sums on the stack, a store and a reload
            // per key); one half fits.
            TVector tileSum;
            if (TSimd.Registers == 2)
            {
                VectorPair<TPartVector> shifts = Unsafe.As<TVector, VectorPair<TPartVector>>(ref shift);
                VectorPair<TPartVector> sums = new(
                    Exponentiate<TPart, TPartVector>(ref sT, lanes, count, shifts.Low),
                    Exponentiate<TPart, TPartVector>(ref Unsafe.Add(ref sT, TPart.Count), lanes, count, shifts.High));
                tileSum = Unsafe.As<VectorPair<TPartVector>, TVector>(ref sums);
            }
            else
            {
                tileSum = Exponentiate<TSimd, TVector>(ref sT, lanes, count, shift);
            }

            rowSum = TSimd.MultiplyAdd(rowSum, correction, tileSum);
            if (writesProbabilities)
            {
                // exp(s − this tile's running maximum): rescaled by exp(maximum − final maximum) / sum once the rows are done.
                rowOutputs.WriteTile(ref sT, lanes, rows, tileStart, count);
                TSimd.Store(rowMax, ref tileMaxima, (nuint)((tileStart / keyTile) * lanes));
            }

            // P·V: rescale the accumulators if some row's maximum moved (the factor is exactly 1 in every lane
            // otherwise), and add this tile's probabilities times its values. A weight of 0 must add nothing, but 0 · ∞
            // is NaN: where a value of a key some row does not see is infinite or NaN (rare, and checked only on such
            // tiles, only for those keys), add only the weights that are not 0; on every tile where the block is computed
            // again for a weight of 0 that met one in a key every row sees (below).
            bool rescale = !TSimd.AllOne(correction);
            ref float tileValues = ref Unsafe.Add(ref values, (nint)tileStart * TRows.ValueStride);
            bool skipZeros = skipZeroWeights
                ? MaskedValues.AnyNonFinite(ref tileValues, count, valueDim, TRows.ValueStride)
                : partial && MaskedValues.AnyNonFinite(ref values, TRows.ValueStride, valueDim, tileStart, tileStart + count, seenFirst, seenEnd);
            AccumulateTile<TSimd, TVector, TPart, TPartVector, TRows>(ref sT, skipZeros ? 0 : count, ref tileValues, ref oT, rescale, correction);

            if (skipZeros)
            {
                MaskedValues.AccumulateNonZero(ref sT, lanes, count, ref tileValues, TRows.ValueStride, valueDim, ref oT);
            }
        }

        // A key every row sees can still have a weight of exactly 0 in some row: scored -infinity (an infinite key
        // element, or a score that overflowed) or far below the row's maximum. Against an infinite value that left
        // 0 · ∞ = NaN in the row's accumulator, where the scalar kernel and ReferenceAttention add nothing. That takes
        // infinite inputs, so rather than look for such weights on every tile, the block looks for NaN once, here, and
        // only then is computed again, skipping the weights of 0 on every tile whose values are not all finite.
        // (NaN that the inputs carry in comes out of that again, as it should.) Nothing has been written yet that the
        // second computation does not write again: the output rows, log-sum-exps and staged weights come after this.
        if (!skipZeroWeights && MaskedValues.AnyNaN(ref oT, valueDim * lanes))
        {
            Run<TSimd, TVector, TPart, TPartVector, TRows, TExtras>(
                ref query, ref keys, ref values, ref output, rows, position, valid, in mask, b, head, firstRow, in outputs, skipZeroWeights: true);
            return;
        }

        // Normalize and transpose the lanes back into output rows. A row that saw no key has rowSum = 0 and is written
        // as zeros.
        Span<float> inverses = stackalloc float[TSimd.Count];
        TSimd.Store(TSimd.ReciprocalOrZero(rowSum), ref MemoryMarshal.GetReference(inverses), 0);
        if (TExtras.Enabled)
        {
            Span<float> maxima = stackalloc float[TSimd.Count];
            Span<float> sums = stackalloc float[TSimd.Count];
            TSimd.Store(TSimd.ZeroWhereNegativeInfinity(rowMax), ref MemoryMarshal.GetReference(maxima), 0);
            TSimd.Store(rowSum, ref MemoryMarshal.GetReference(sums), 0);
            for (int r = 0; r < rows; r++)
            {
                rowOutputs.FinishRow<TSimd, TVector>(r, maxima[r], sums[r], unionFirst, unionEnd, ref Unsafe.Add(ref tileMaxima, r), lanes);
            }

            if (staging > 0)
            {
                RowOutputs.Fence();
            }
        }

        LaneTranspose.LanesIntoRows(ref oT, lanes, valueDim, ref MemoryMarshal.GetReference(inverses), rows, ref output, AttentionWork<TKernel>.OutputRowStride);
    }

    /// <summary>
    /// For a block of rows in pairs of vectors (<see cref="SimdPair{TSimd, TVector}"/>): the keys [<paramref name="first"/>,
    /// <paramref name="end"/>), which only the block's upper half of rows sees, against that half alone, one
    /// <typeparamref name="TPart"/> vector of rows, before any other key. Scores, masks and softmax as the pairs do them,
    /// in the scratch <paramref name="sT"/> at half the lane stride; the half's accumulators start from zero in
    /// <paramref name="halfScratch"/> (after its transposed queries) and are copied into the upper lanes of
    /// <paramref name="oT"/>, whose lower lanes stay zero. Returns the half's running maximum and sum.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void UpperHalfKeys<TPart, TPartVector, TRows>(
        ref float qT, ref float keys, ref float values, int first, int end, ref float sT, ref float oT, ref float halfScratch, ref float packedKeys,
        Span<int> firstKeys, Span<int> endKeys, out TPartVector maximum, out TPartVector sum)
        where TPart : struct, ISimd<TPartVector>
        where TPartVector : struct
        where TRows : struct, IKeyValueRows
    {
        int half = TPart.Count, lanes = 2 * half;
        int headDim = TKernel.HeadDim, valueDim = TKernel.ValueDim, count = end - first;
        ref float qHalf = ref halfScratch;
        ref float oHalf = ref Unsafe.Add(ref halfScratch, headDim * half);
        for (int d = 0; d < headDim; d++)
        {
            TPart.Store(TPart.Load(ref qT, (nuint)(d * lanes + half)), ref qHalf, (nuint)(d * half));
        }

        ScoreTile<TPart, TPartVector, TPart, TPartVector, TRows>(ref qHalf, ref Unsafe.Add(ref keys, (nint)first * TRows.KeyStride), count, ref sT, ref packedKeys);

        SoftCap<TPart, TPartVector>(ref sT, half, count);

        // Keys outside a row's visible range get -infinity in its lane; the rows' shared keys are few here, so every key is
        // masked. The maximum of a lane that sees none of these keys stays -infinity, and its probabilities are 0.
        MaskOutside<TPart, TPartVector>(ref sT, half, 0, count, first, firstKeys, endKeys);
        maximum = TileMaximum<TPart, TPartVector>(ref sT, half, count);
        sum = Exponentiate<TPart, TPartVector>(ref sT, half, count, TPart.ZeroWhereNegativeInfinity(maximum));

        // P·V from zero. A weight of 0 against an infinite or NaN value leaves NaN in a row's accumulator; the block finds
        // it at its end and is computed again without this step, skipping such weights (see Run).
        MemoryMarshal.CreateSpan(ref oHalf, valueDim * half).Clear();
        AccumulateTile<TPart, TPartVector, TPart, TPartVector, TRows>(
            ref sT, count, ref Unsafe.Add(ref values, (nint)first * TRows.ValueStride), ref oHalf, rescale: false, correction: TPart.Zero);

        for (int v = 0; v < valueDim; v++)
        {
            TPart.Store(TPart.Load(ref oHalf, (nuint)(v * half)), ref oT, (nuint)(v * lanes + half));
        }
    }

    /// <summary>Soft-caps, if the kernel has a cap, <paramref name="count"/> vectors of scores <paramref name="stride"/> floats apart: s = c · tanh(s / c), before any mask.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SoftCap<TSimd, TVector>(ref float scores, int stride, int count)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
    {
        if (TKernel.Softcap != 0)
        {
            for (int c = 0; c < count; c++)
            {
                TSimd.Store(TSimd.SoftCap(TSimd.Load(ref scores, (nuint)(c * stride)), TKernel.Softcap), ref scores, (nuint)(c * stride));
            }
        }
    }

    /// <summary>
    /// The lane-by-lane maximum of <paramref name="count"/> (at least one) vectors of scores <paramref name="stride"/>
    /// floats apart, over alternate keys in two chains: one chain waits out the latency of every max, and the loop took
    /// about a sixth of the softmax's time with heads of 32 (profile).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector TileMaximum<TSimd, TVector>(ref float scores, int stride, int count)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
    {
        TVector maximum = TSimd.Load(ref scores, 0), other = maximum;
        ref float next = ref Unsafe.Add(ref scores, stride);
        int c;
        for (c = 1; c + 1 < count; c += 2)
        {
            maximum = TSimd.Max(maximum, TSimd.Load(ref next, 0));
            other = TSimd.Max(other, TSimd.Load(ref next, (nuint)stride));
            next = ref Unsafe.Add(ref next, 2 * stride);
        }

        if (c < count)
        {
            maximum = TSimd.Max(maximum, TSimd.Load(ref next, 0));
        }

        return TSimd.Max(maximum, other);
    }

    /// <summary>
    /// Sets to -infinity, in each lane, the scores of tile keys [<paramref name="from"/>, <paramref name="to"/>) that lie
    /// outside that lane's row's visible keys, [firstKeys[r], endKeys[r]).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MaskOutside<TSimd, TVector>(ref float sT, int lanes, int from, int to, int tileStart, Span<int> firstKeys, Span<int> endKeys)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
    {
        for (int c = from; c < to; c++)
        {
            TSimd.Store(
                TSimd.MaskOutside(TSimd.Load(ref sT, (nuint)(c * lanes)), tileStart + c, ref MemoryMarshal.GetReference(firstKeys), ref MemoryMarshal.GetReference(endKeys)),
                ref sT, (nuint)(c * lanes));
        }
    }

    /// <summary>
    /// Q·Kᵀ for one tile: the scores of <paramref name="count"/> keys from <paramref name="keys"/> on against the block's
    /// rows, [key][lane] at <paramref name="sT"/>, one register block of keys at a time, then key by key. A method of its
    /// own, so that the JIT's inlining budget goes to its register blocks whatever the rest of the kernel costs.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void ScoreTile<TSimd, TVector, TPart, TPartVector, TRows>(ref float qT, ref float keys, int count, ref float sT, ref float packedKeys)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TPart : struct, ISimd<TPartVector>
        where TPartVector : struct
        where TRows : struct, IKeyValueRows
    {
        int lanes = TSimd.Count;
        int block = RegisterBlock<TSimd, TVector>();
        int c = 0;
        for (; c + block <= count; c += block)
        {
            ref float k = ref Unsafe.Add(ref keys, (nint)c * TRows.KeyStride);
            nint stride = TRows.KeyStride;
            if (TRows.PackKeys)
            {
                KernelMath.CopyRows(ref k, TRows.KeyStride, ref packedKeys, block, TKernel.HeadDim);
                k = ref packedKeys;
                stride = TKernel.HeadDim;
            }

            if (block == KernelTiles.WideRegisterBlock && TSimd.MultipliesByLane)
            {
                TKernel.ScoreKeysByLane16<TSimd, TVector>(ref qT, ref k, stride, ref Unsafe.Add(ref sT, c * lanes));
            }
            else if (block == KernelTiles.WideRegisterBlock)
            {
                TKernel.ScoreKeys16<TSimd, TVector>(ref qT, ref k, stride, ref Unsafe.Add(ref sT, c * lanes));
            }
            else if (block == KernelTiles.NarrowRegisterBlock)
            {
                TKernel.ScoreKeys12<TSimd, TVector>(ref qT, ref k, stride, ref Unsafe.Add(ref sT, c * lanes));
            }
            else
            {
                TKernel.ScoreKeysPaired6<TPart, TPartVector>(ref qT, ref k, stride, ref Unsafe.Add(ref sT, c * lanes));
            }
        }

        for (; c < count; c++)
        {
            TKernel.ScoreKey<TSimd, TVector>(ref qT, ref Unsafe.Add(ref keys, (nint)c * TRows.KeyStride), ref Unsafe.Add(ref sT, c * lanes));
        }
    }

    /// <summary>
    /// P·V for one tile: the output accumulators at <paramref name="oT"/> rescaled by <paramref name="correction"/> when
    /// <paramref name="rescale"/> is set, plus <paramref name="count"/> keys' probabilities times their values. A method of
    /// its own, for the same reason as <see cref="ScoreTile"/>.
    /// </summary>
    /// <remarks>
    /// With BERT-base's shape on an Intel Xeon (family 6 model 207, AVX-512), P·V takes about a sixth longer than Q·Kᵀ
    /// (profile). In probes, neither asking for the tile's value rows during its Q·Kᵀ (into L1 or L2) nor running P·V
    /// over 16 to 64 keys at a time, so that the value rows stay in L1 from one group of value elements to the next,
    /// moved the call by more than the probes' spread, about 2%; over 32 keys, P·V's share of the profile stayed the
    /// same.
    /// </remarks>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void AccumulateTile<TSimd, TVector, TPart, TPartVector, TRows>(ref float pT, int count, ref float values, ref float oT, bool rescale, TVector correction)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TPart : struct, ISimd<TPartVector>
        where TPartVector : struct
        where TRows : struct, IKeyValueRows
    {
        int block = RegisterBlock<TSimd, TVector>();
        if (block == KernelTiles.WideRegisterBlock && TSimd.MultipliesByLane)
        {
            TKernel.AccumulateByLane16<TSimd, TVector>(ref pT, count, ref values, TRows.ValueStride, ref oT, rescale, correction);
        }
        else if (block == KernelTiles.WideRegisterBlock)
        {
            TKernel.Accumulate16<TSimd, TVector>(ref pT, count, ref values, TRows.ValueStride, ref oT, rescale, correction);
        }
        else if (block == KernelTiles.NarrowRegisterBlock)
        {
            TKernel.Accumulate12<TSimd, TVector>(ref pT, count, ref values, TRows.ValueStride, ref oT, rescale, correction);
        }
        else
        {
            VectorPair<TPartVector> halves = Unsafe.As<TVector, VectorPair<TPartVector>>(ref correction);
            TKernel.AccumulatePaired6<TPart, TPartVector>(ref pT, count, ref values, TRows.ValueStride, ref oT, rescale, halves.Low, halves.High);
        }
    }

    /// <summary>
    /// Writes p = exp(s − <paramref name="shift"/>) over <paramref name="count"/> vectors of scores, <paramref name="stride"/>
    /// floats apart from <paramref name="scores"/>, and returns their sum. Every score is at most its lane's shift (the
    /// running maximum), or the lane's scores are all -infinity and its shift 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector Exponentiate<TSimd, TVector>(ref float scores, int stride, int count, TVector shift)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
    {
        TVector sum = TSimd.Zero;
        ref float s = ref scores;
        for (int c = 0; c < count; c++)
        {
            TVector p = TSimd.ExpNonPositive(TSimd.Subtract(TSimd.Load(ref s, 0), shift));
            TSimd.Store(p, ref s, 0);
            sum = TSimd.Add(sum, p);
            s = ref Unsafe.Add(ref s, stride);
        }

        return sum;
    }

    /// <summary>
    /// Keys (Q·Kᵀ) or value elements (P·V) per register block at this width: 6 where each row vector is a pair of vectors
    /// (<see cref="SimdPair{TSimd, TVector}"/>, whatever the register file), else 16 on a 32-register file and 12 on a
    /// 16-register one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int RegisterBlock<TSimd, TVector>()
        where TSimd : struct, ISimd<TVector>
        where TVector : struct =>
        TSimd.Registers == 2 ? KernelTiles.PairedRegisterBlock : TSimd.HasWideRegisterFile ? KernelTiles.WideRegisterBlock : KernelTiles.NarrowRegisterBlock;
}
