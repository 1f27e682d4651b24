using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace AttentionGen.CompilerServices;

/// <summary>A range of a call's work items, run by <see cref="AttentionScheduler"/> on one or more threads with disjoint ranges.</summary>
/// <typeparam name="TArguments">The arguments of the call, which every thread reads in place.</typeparam>
internal interface IWorkItems<TArguments>
    where TArguments : allows ref struct
{
    /// <summary>Runs work items <paramref name="start"/> (inclusive) to <paramref name="end"/> (exclusive).</summary>
    static abstract void Execute(scoped in TArguments arguments, int start, int end);
}

/// <summary>
/// The work loops of every generated kernel, written once: what a work item is, where its rows lie in the tensors or
/// the cache, and which kernel computes them. Generic over the generated <typeparamref name="TKernel"/>, whose
/// members are constants, so the JIT compiles these loops once per kernel with its shape folded in. The scheduler runs
/// them (<see cref="AttentionScheduler.Run{TKernel}(in AttentionArguments)"/>).
/// </summary>
/// <typeparam name="TKernel">The generated kernel.</typeparam>
internal readonly struct AttentionWork<TKernel> : IWorkItems<AttentionArguments>
    where TKernel : struct, IAttentionKernel
{
    /// <summary>Query heads per key/value head.</summary>
    internal static int GroupSize
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => TKernel.Heads / TKernel.KvHeads;
    }

    /// <summary>Floats from one query row of a (batch entry, head) to the next.</summary>
    internal static int QueryRowStride
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => TKernel.Layout == AttentionLayout.Bshd ? TKernel.Heads * TKernel.HeadDim : TKernel.HeadDim;
    }

    /// <summary>Floats from one output row of a (batch entry, head) to the next.</summary>
    internal static int OutputRowStride
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => TKernel.Layout == AttentionLayout.Bshd ? TKernel.Heads * TKernel.ValueDim : TKernel.ValueDim;
    }

    /// <summary>Floats in one row's online-softmax state (see <see cref="OnlineSoftmax"/>).</summary>
    private static int StateSize
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => OnlineSoftmax.StateSize(TKernel.ValueDim);
    }

    /// <summary>Whether the kernel masks by explicit values.</summary>
    private static bool HasExplicitMask
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (TKernel.Mask & AttentionMask.Explicit) != 0;
    }

    /// <summary>The first float of row <paramref name="i"/> of (batch entry <paramref name="b"/>, <paramref name="head"/>), in units of a head's size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static nint RowIndex(int b, int head, int i, int queryLength) =>
        TKernel.Layout == AttentionLayout.Bshd
            ? ((nint)b * queryLength + i) * TKernel.Heads + head
            : ((nint)b * TKernel.Heads + head) * queryLength + i;

    /// <summary>
    /// Query rows per work item of the row-block kernels: <see cref="KernelTiles.WideRowsPerItem"/> with AVX-512, where a
    /// row block holds them in pairs of Vector512; else <see cref="KernelTiles.RowsPerItem"/>. A JIT-time constant.
    /// </summary>
    private static int ItemRows
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.IsHardwareAccelerated ? KernelTiles.WideRowsPerItem : KernelTiles.RowsPerItem;
    }

    /// <summary>Work items of a <c>Forward</c> over tensors: query blocks of <see cref="ItemRows"/> rows of each (batch entry, head).</summary>
    internal static int ItemCount(int batch, int queryLength) =>
        batch * TKernel.Heads * (int)(((long)queryLength + ItemRows - 1) / ItemRows);

    /// <summary>
    /// The consecutive items of a <c>Forward</c> over tensors, or a prefill over a cache, that read one (batch entry,
    /// key/value head)'s keys and values: its query heads' blocks (see <see cref="Decompose"/>).
    /// </summary>
    internal static int ItemsPerKeyValueHead(int queryLength) =>
        GroupSize * (int)(((long)queryLength + ItemRows - 1) / ItemRows);

    /// <summary>The most multiply-adds one such item costs, which sizes the thread count.</summary>
    internal static long WorkPerItem(int keyLength) => (long)ItemRows * keyLength * (TKernel.HeadDim + TKernel.ValueDim);

    /// <summary>
    /// Runs work items [<paramref name="start"/>, <paramref name="end"/>) of a call: query blocks of one (batch entry,
    /// head) each, or with a <see cref="KvCache"/>, those of <see cref="ExecuteCached"/> or <see cref="ExecuteCachedTiled"/>.
    /// </summary>
    public static void Execute(scoped in AttentionArguments arguments, int start, int end)
    {
        if (arguments.Cache is not null)
        {
            if (AttentionScheduler.UsesRowBlocks(arguments.QueryLength, KernelTiles.RowsPerItem))
            {
                ExecuteCachedTiled(in arguments, start, end);
            }
            else
            {
                ExecuteCached(in arguments, start, end);
            }

            return;
        }

        if (arguments.WritesWeights || arguments.WritesLogSumExp)
        {
            ExecuteTensors<WithRowOutputs>(in arguments, start, end);
        }
        else
        {
            ExecuteTensors<OutputOnly>(in arguments, start, end);
        }
    }

    /// <summary>Runs work items [start, end) of a Forward over tensors, writing the outputs <typeparamref name="TExtras"/> says.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ExecuteTensors<TExtras>(scoped in AttentionArguments arguments, int start, int end)
        where TExtras : struct, IRowExtras
    {
        int queryLength = arguments.QueryLength;
        int keyLength = arguments.KeyLength;
        int queryBlocks = (int)(((long)queryLength + ItemRows - 1) / ItemRows);
        ref float query = ref MemoryMarshal.GetReference(arguments.Query);
        ref float key = ref MemoryMarshal.GetReference(arguments.Key);
        ref float value = ref MemoryMarshal.GetReference(arguments.Value);
        ref float output = ref MemoryMarshal.GetReference(arguments.Output);
        ReadOnlySpan<int> keyLengths = arguments.KeyLengths;
        for (int item = start; item < end; item++)
        {
            Decompose(item, queryBlocks, queryLength, out int b, out int kvHead, out int head, out int firstRow, out int rows);

            // With key padding, keys at or after keyLengths[b] are padding.
            int valid = (TKernel.Mask & AttentionMask.KeyPadding) != 0 ? keyLengths[b] : keyLength;
            ref float keys = ref Unsafe.Add(ref key, KeyValueHeadStart(b, kvHead, keyLength) * TKernel.HeadDim);
            ref float values = ref Unsafe.Add(ref value, KeyValueHeadStart(b, kvHead, keyLength) * TKernel.ValueDim);
            nint row = RowIndex(b, head, firstRow, queryLength);
            RowOutputs outputs = TExtras.Enabled ? RowOutputs.Of(in arguments, TKernel.Heads, b, head, firstRow) : default;

            // The keys the blocks read: the valid ones, or every key where the weights are scores before the masks.
            int keysRead = outputs.NeedsEveryKey ? keyLength : valid;
            if (keysRead <= KernelTiles.KeyTile)
            {
                // A block that reads one tile of keys or fewer (encoder calls: short sequences, or short sentences padded
                // to a longer length) spends much of its time bringing in its query rows and taking out its output rows,
                // which in the token-major layout lie a whole token apart. Asked for all at once here, they come in
                // together rather than a group of rows at a time. With more keys the block's arithmetic hides them,
                // and the hints cost more than they save. On an Intel Xeon (family 6 model 207, AVX-512), in probes
                // alternating the forms: asking for the query rows an item ahead into L2 and for no output rows,
                // MiniLM's shape ran 12–20% slower (each store waits for its line); asking for both an item ahead
                // into L2 ran it 4–6% faster and BERT-base's 0–5% slower, so this form stays.
                KernelMath.PrefetchRows(ref Unsafe.Add(ref query, row * TKernel.HeadDim), QueryRowStride, rows, TKernel.HeadDim);
                KernelMath.PrefetchRows(ref Unsafe.Add(ref output, row * TKernel.ValueDim), OutputRowStride, rows, TKernel.ValueDim);
            }

            if (StagesHeads(queryLength, keysRead))
            {
                // Token-major keys and values, read again by many row blocks: from this thread's consecutive copy of the
                // head.
                ref float stagedKeys = ref TensorHeads.Stage(in arguments, b, kvHead, keysRead,
                    ref keys, TensorRows<TKernel>.KeyStride, TKernel.HeadDim, ref values, TensorRows<TKernel>.ValueStride, TKernel.ValueDim);
                Rows<CacheRows<TKernel>, TExtras>(
                    ref Unsafe.Add(ref query, row * TKernel.HeadDim), ref stagedKeys, ref Unsafe.Add(ref stagedKeys, (nint)keysRead * TKernel.HeadDim),
                    ref Unsafe.Add(ref output, row * TKernel.ValueDim), rows, firstRow + PositionOffset(valid, queryLength), valid, in arguments, b, head, firstRow, in outputs);
            }
            else
            {
                Rows<TensorRows<TKernel>, TExtras>(
                    ref Unsafe.Add(ref query, row * TKernel.HeadDim), ref keys, ref values, ref Unsafe.Add(ref output, row * TKernel.ValueDim),
                    rows, firstRow + PositionOffset(valid, queryLength), valid, in arguments, b, head, firstRow, in outputs);
            }
        }
    }

    /// <summary>
    /// Whether a call over tensors reads each key/value head from a consecutive copy (<see cref="TensorHeads"/>): in the
    /// token-major layout with several key/value heads, where a head's rows are not consecutive, once enough row
    /// blocks read the head's keys again to pay for the copy (the copy moves each key once; every block reads them all).
    /// Not where the blocks read <paramref name="keys"/> of one tile or fewer from rows that are not a multiple of 4 KiB
    /// apart (encoder shapes): each block then reads the tile in place about as fast as from a copy, while the copy is
    /// one more pass over the head, made by every thread that works on it. On Zen 5, in alternating probes, BERT-base's
    /// shape (12 heads of 64, 128 tokens, rows 3 KiB apart) ran 6% faster on one thread and 9–13% on two without the
    /// copy, MiniLM's 2–3%; 8 heads of 128 (rows 4 KiB apart, whose lines share L1 sets) ran slower without it. On an
    /// Intel Xeon (family 6 model 207, AVX-512) a probe agrees: staging BERT-base's heads too, the call ran 3% slower;
    /// in a profile its P·V took a fifth less time, and the copy 11% of the call's.
    /// </summary>
    /// <param name="queryLength">The call's query rows per batch entry and head.</param>
    /// <param name="keys">The keys the row blocks of the head read.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool StagesHeads(int queryLength, int keys) =>
        TKernel.Layout == AttentionLayout.Bshd && TKernel.KvHeads > 1 && (long)GroupSize * queryLength >= KernelTiles.StagedHeadRows
        && (keys > KernelTiles.KeyTile || TensorRows<TKernel>.PackKeys);

    /// <summary>
    /// Work item → (batch entry, key/value head, query block, query head of the group), the last varying fastest: the
    /// query heads that share a key/value head, then all its query blocks, run back to back while its keys and values
    /// are in cache.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Decompose(int item, int queryBlocks, int queryLength, out int b, out int kvHead, out int head, out int firstRow, out int rows)
    {
        int member = item % GroupSize;
        int block = item / GroupSize % queryBlocks;
        kvHead = item / GroupSize / queryBlocks % TKernel.KvHeads;
        b = item / GroupSize / queryBlocks / TKernel.KvHeads;
        head = kvHead * GroupSize + member;
        firstRow = block * ItemRows;
        rows = Math.Min(ItemRows, queryLength - firstRow);
    }

    /// <summary>The first key row of (batch entry <paramref name="b"/>, <paramref name="kvHead"/>) in the key and value tensors, in units of a head's size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nint KeyValueHeadStart(int b, int kvHead, int keyLength) =>
        TKernel.Layout == AttentionLayout.Bshd
            ? (nint)b * keyLength * TKernel.KvHeads + kvHead
            : ((nint)b * TKernel.KvHeads + kvHead) * keyLength;

    /// <summary>
    /// The key position of query row 0 among <paramref name="valid"/> keys, for the positional masks: bottom-right puts
    /// the last query row at the last valid key, top-left puts query row i at key i.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long PositionOffset(int valid, int queryLength) =>
        TKernel.Alignment == MaskAlignment.BottomRight ? (long)valid - queryLength : 0;

    /// <summary>
    /// Runs work items [start, end) of a Forward over a KvCache with many query rows (a prefill): the same items and
    /// row-block kernels as a Forward over tensors, reading keys and values as consecutive rows: in place from a cache of
    /// floats, from a staged copy of the head for halves or a wrapped ring. Each entry's queries align with the end of
    /// its tokens.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ExecuteCachedTiled(scoped in AttentionArguments arguments, int start, int end)
    {
        KvCache cache = arguments.Cache!;
        bool half = cache.Precision == KvCachePrecision.Half;
        int queryLength = arguments.QueryLength;
        int queryBlocks = (queryLength + ItemRows - 1) / ItemRows;
        ref float query = ref MemoryMarshal.GetReference(arguments.Query);
        ref float output = ref MemoryMarshal.GetReference(arguments.Output);
        for (int item = start; item < end; item++)
        {
            Decompose(item, queryBlocks, queryLength, out int b, out int kvHead, out int head, out int firstRow, out int rows);
            KvCacheSegments segments = KvCacheAccess.GetSegments(cache, b);
            int valid = segments.Length;
            ref float keys = ref Unsafe.NullRef<float>();
            ref float values = ref Unsafe.NullRef<float>();
            if (half || segments.FirstLength != valid)
            {
                // Halves, or a ring whose tokens wrap around: a copy of this head as consecutive floats, made once per
                // thread and reused by its next items on the same head.
                ReadOnlySpan<float> staged = KvCacheAccess.Stage(cache, b, kvHead);
                keys = ref MemoryMarshal.GetReference(staged);
                values = ref Unsafe.Add(ref keys, (nint)valid * TKernel.HeadDim);
            }
            else
            {
                keys = ref KvCacheAccess.SingleKey(cache, b, kvHead, segments.FirstSlot);
                values = ref KvCacheAccess.SingleValue(cache, b, kvHead, segments.FirstSlot);
            }

            // The last query row is the newest token, whatever the kernel's alignment.
            nint row = RowIndex(b, head, firstRow, queryLength);
            Rows<CacheRows<TKernel>, OutputOnly>(
                ref Unsafe.Add(ref query, row * TKernel.HeadDim), ref keys, ref values, ref Unsafe.Add(ref output, row * TKernel.ValueDim),
                rows, firstRow + (long)valid - queryLength, valid, in arguments, b, head, firstRow, default);
        }
    }

    /// <summary>
    /// Runs work items [start, end) of a Forward over a KvCache with few query rows (decoding). An item is a chunk of up to
    /// <see cref="KernelTiles.CachedRowsPerItem"/> of the rows that read one (batch entry, key/value head), GroupSize query
    /// heads times queryLength positions, against one of arguments.Splits ranges of its keys. Each tile of keys is read
    /// once for all those rows: in place when the cache stores floats, widened into scratch first when it stores halves,
    /// unless the rows are few enough to widen the halves in registers each.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ExecuteCached(scoped in AttentionArguments arguments, int start, int end)
    {
        KvCache cache = arguments.Cache!;
        bool half = cache.Precision == KvCachePrecision.Half;
        int queryLength = arguments.QueryLength;
        int rowsPerHead = GroupSize * queryLength;
        int chunks = (rowsPerHead + KernelTiles.CachedRowsPerItem - 1) / KernelTiles.CachedRowsPerItem;
        int splits = arguments.Splits;
        int cacheTile = KernelTiles.CacheTile(TKernel.HeadDim, TKernel.ValueDim);
        ref float query = ref MemoryMarshal.GetReference(arguments.Query);
        ref float output = ref MemoryMarshal.GetReference(arguments.Output);
        ExplicitMask mask = arguments.Mask;

        // Scratch: each row's softmax state, then each row's query (for the group kernels, which take them
        // consecutively), then a tile of keys and one of values widened from Half.
        Span<float> scratch = KernelScratch.Get(
            KernelTiles.CachedRowsPerItem * (StateSize + TKernel.HeadDim) + cacheTile * (TKernel.HeadDim + TKernel.ValueDim));
        ref float states = ref MemoryMarshal.GetReference(scratch);
        ref float rowQueries = ref Unsafe.Add(ref states, KernelTiles.CachedRowsPerItem * StateSize);
        ref float wideKeys = ref Unsafe.Add(ref rowQueries, KernelTiles.CachedRowsPerItem * TKernel.HeadDim);
        ref float wideValues = ref Unsafe.Add(ref wideKeys, cacheTile * TKernel.HeadDim);
        for (int item = start; item < end; item++)
        {
            // Work item → (batch entry, key/value head, row chunk, split), the split varying fastest.
            int split = item % splits;
            int chunk = item / splits % chunks;
            int kvHead = item / splits / chunks % TKernel.KvHeads;
            int b = item / splits / chunks / TKernel.KvHeads;
            KvCacheSegments segments = KvCacheAccess.GetSegments(cache, b);
            int length = segments.Length;
            int firstRow = chunk * KernelTiles.CachedRowsPerItem;
            int rows = Math.Min(KernelTiles.CachedRowsPerItem, rowsPerHead - firstRow);

            // Rows over a Half cache (finite values only) read the halves where they are and widen them in registers, once
            // per group of rows that see the same keys, or once per row where rows cannot be grouped (an explicit mask); then
            // only up to DirectRows rows do, and more share each tile widened into scratch once.
            bool direct = half && RowKernel<TKernel>.ReadsHalvesInPlace && (RowKernel<TKernel>.GroupsRows || rows <= KernelTiles.DirectRows);

            // Row firstRow + r is query position i = (firstRow + r) % queryLength of group member (firstRow + r) / queryLength,
            // and sits at cache token length - queryLength + i: the last row is the newest token. This split takes an
            // equal share of the keys that any of the rows sees.
            int unionFirst = int.MaxValue, unionEnd = 0;
            for (int r = 0; r < rows; r++)
            {
                OnlineSoftmax.Reset(ref Unsafe.Add(ref states, r * StateSize), TKernel.ValueDim);
                int head = kvHead * GroupSize + (firstRow + r) / queryLength;
                MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref query, RowIndex(b, head, (firstRow + r) % queryLength, queryLength) * TKernel.HeadDim), TKernel.HeadDim)
                    .CopyTo(MemoryMarshal.CreateSpan(ref Unsafe.Add(ref rowQueries, r * TKernel.HeadDim), TKernel.HeadDim));
                TKernel.VisibleRange((long)length - queryLength + (firstRow + r) % queryLength, length, out int firstKey, out int endKey);
                if (firstKey < endKey)
                {
                    unionFirst = Math.Min(unionFirst, firstKey);
                    unionEnd = Math.Max(unionEnd, endKey);
                }
            }

            int share = unionFirst < unionEnd ? (unionEnd - unionFirst + splits - 1) / splits : 0;
            int keyStart = Math.Min(unionEnd, unionFirst + split * share);
            int keyEnd = Math.Min(unionEnd, keyStart + share);
            for (int tileStart = keyStart, count; tileStart < keyEnd; tileStart += count)
            {
                // A tile stops where a ring wraps around, so its slots are consecutive. Halves widened into scratch come
                // cacheTile keys at a time; floats, and halves read in place, KeyTile keys at a time, which stay in L2
                // while every row of the group reads them: memory is read once per key/value head. A single row
                // shares its tile with no other and takes RowKeyTile keys at a time, and so does a single group that
                // holds every row (one token's query heads of this key/value head).
                bool oneGroup = rows == 1 || (queryLength == 1 && rows <= KernelTiles.GroupRows && RowKernel<TKernel>.GroupsRows);
                int tile = half && !direct ? cacheTile : oneGroup ? KernelTiles.RowKeyTile : KernelTiles.KeyTile;
                count = segments.Run(tileStart, Math.Min(tile, keyEnd - tileStart));
                int slot = segments.Slot(tileStart);
                ref float keys = ref wideKeys;
                ref float values = ref wideValues;
                ref ushort halfKeys = ref Unsafe.NullRef<ushort>();
                ref ushort halfValues = ref Unsafe.NullRef<ushort>();
                if (direct)
                {
                    halfKeys = ref KvCacheAccess.HalfKey(cache, b, kvHead, slot);
                    halfValues = ref KvCacheAccess.HalfValue(cache, b, kvHead, slot);
                }
                else if (half)
                {
                    KvCacheAccess.WidenKeys(cache, b, kvHead, slot, count, ref wideKeys);
                    KvCacheAccess.WidenValues(cache, b, kvHead, slot, count, ref wideValues);
                }
                else
                {
                    keys = ref KvCacheAccess.SingleKey(cache, b, kvHead, slot);
                    values = ref KvCacheAccess.SingleValue(cache, b, kvHead, slot);
                }

                // Rows that see the same keys of the tile (the query heads of the group at one position) run together,
                // up to KernelTiles.GroupRows at a time, so that each key and value is loaded once for all of them.
                for (int r = 0, group; r < rows; r += group)
                {
                    int i = (firstRow + r) % queryLength;
                    TKernel.VisibleRange((long)length - queryLength + i - tileStart, count, out int firstKey, out int endKey);
                    group = 1;
                    if (RowKernel<TKernel>.GroupsRows)
                    {
                        while (group < KernelTiles.GroupRows && r + group < rows
                            && SeesSameKeys((long)length - queryLength - tileStart, count, (firstRow + r + group) % queryLength, firstKey, endKey))
                        {
                            group++;
                        }
                    }

                    if (firstKey >= endKey)
                    {
                        continue;
                    }

                    ref float state = ref Unsafe.Add(ref states, r * StateSize);
                    if (group > 1)
                    {
                        ref float groupQueries = ref Unsafe.Add(ref rowQueries, r * TKernel.HeadDim);
                        if (direct)
                        {
                            RowKernel<TKernel>.RunGroup<ushort, HalfElements>(group, ref groupQueries, ref halfKeys, ref halfValues, TKernel.HeadDim, TKernel.ValueDim, firstKey, endKey, ref state);
                        }
                        else
                        {
                            RowKernel<TKernel>.RunGroup<float, SingleElements>(group, ref groupQueries, ref keys, ref values, TKernel.HeadDim, TKernel.ValueDim, firstKey, endKey, ref state);
                        }

                        continue;
                    }

                    int head = kvHead * GroupSize + (firstRow + r) / queryLength;
                    ref float queryRow = ref Unsafe.Add(ref rowQueries, r * TKernel.HeadDim);
                    int maskStart = HasExplicitMask ? mask.GetRowStart(b, head, i) : 0;
                    if (direct)
                    {
                        RowKernel<TKernel>.RunHalf(ref queryRow, ref halfKeys, ref halfValues, firstKey, endKey, in mask, maskStart, tileStart, ref state);
                    }
                    else
                    {
                        RowKernel<TKernel>.Run(ref queryRow, ref keys, ref values, TKernel.HeadDim, TKernel.ValueDim, firstKey, endKey, in mask, maskStart, tileStart, ref state);
                    }
                }
            }

            // Normalize into the output, or, when the keys were split, leave this split's partial states for the
            // scheduler to merge.
            for (int r = 0; r < rows; r++)
            {
                ref float state = ref Unsafe.Add(ref states, r * StateSize);
                if (splits == 1)
                {
                    int head = kvHead * GroupSize + (firstRow + r) / queryLength;
                    nint outputRow = RowIndex(b, head, (firstRow + r) % queryLength, queryLength);
                    OnlineSoftmax.Normalize(ref state, TKernel.ValueDim, ref Unsafe.Add(ref output, outputRow * TKernel.ValueDim));
                }
                else
                {
                    int index = ((b * TKernel.KvHeads + kvHead) * rowsPerHead + firstRow + r) * splits + split;
                    MemoryMarshal.CreateReadOnlySpan(ref state, StateSize).CopyTo(arguments.Partials.Slice(index * StateSize, StateSize));
                }
            }
        }
    }

    /// <summary>
    /// Whether the row at query position <paramref name="i"/> sees keys [<paramref name="firstKey"/>,
    /// <paramref name="endKey"/>) of a tile of <paramref name="count"/> keys, the query positions sitting at
    /// <paramref name="tileBase"/> + i relative to the tile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool SeesSameKeys(long tileBase, int count, int i, int firstKey, int endKey)
    {
        TKernel.VisibleRange(tileBase + i, count, out int first, out int end);
        return first == firstKey && end == endKey || first >= end && firstKey >= endKey;
    }

    /// <summary>
    /// Computes <paramref name="rows"/> consecutive query rows of one (batch entry <paramref name="b"/>,
    /// <paramref name="head"/>), the first at key position <paramref name="position"/>: on the widest row-block kernel
    /// whose lanes they fill at least half, else one row at a time (decoding a single token, say).
    /// IsHardwareAccelerated is a JIT-time constant, so only the chosen paths are compiled. Attention weights and
    /// log-sum-exps are written by the row blocks, which then take any number of rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows<TRows, TExtras>(
        ref float query, ref float keys, ref float values, ref float output, int rows, long position, int valid,
        scoped in AttentionArguments arguments, int b, int head, int firstRow, scoped in RowOutputs outputs)
        where TRows : struct, IKeyValueRows
        where TExtras : struct, IRowExtras
    {
        // With AVX-512, more rows than one Vector512 holds go in pairs of them (SimdPair), each broadcast feeding two
        // multiply-adds: one load per multiply-add is more than a core with two 512-bit FMA pipes can feed. Attention
        // weights keep blocks of 16: a block stages its rows of weights until they are finished, and pairs would double that.
        if (Vector512.IsHardwareAccelerated && !TExtras.Enabled && rows > Vector512<float>.Count)
        {
            Blocks<SimdPair<Simd512, Vector512<float>>, VectorPair<Vector512<float>>, Simd512, Vector512<float>, TRows, TExtras>(
                ref query, ref keys, ref values, ref output, rows, position, valid, arguments.Mask, b, head, firstRow, in outputs);
            return;
        }

        if (Vector512.IsHardwareAccelerated && (TExtras.Enabled || rows >= Vector512<float>.Count / 2))
        {
            Blocks<Simd512, Vector512<float>, Simd512, Vector512<float>, TRows, TExtras>(ref query, ref keys, ref values, ref output, rows, position, valid, arguments.Mask, b, head, firstRow, in outputs);
            return;
        }

        // On a 16-register file, where a broadcast is an instruction of its own, rows go in pairs of vectors, so that
        // each broadcast feeds two multiply-adds (SimdPair), once they fill half a pair.
        if (Vector256.IsHardwareAccelerated && !Simd256.HasWideRegisterFile && rows >= Vector256<float>.Count)
        {
            Blocks<SimdPair<Simd256, Vector256<float>>, VectorPair<Vector256<float>>, Simd256, Vector256<float>, TRows, TExtras>(
                ref query, ref keys, ref values, ref output, rows, position, valid, arguments.Mask, b, head, firstRow, in outputs);
            return;
        }

        if (Vector256.IsHardwareAccelerated && (TExtras.Enabled || rows >= Vector256<float>.Count / 2))
        {
            Blocks<Simd256, Vector256<float>, Simd256, Vector256<float>, TRows, TExtras>(ref query, ref keys, ref values, ref output, rows, position, valid, arguments.Mask, b, head, firstRow, in outputs);
            return;
        }

        if (Vector128.IsHardwareAccelerated && !Simd128.HasWideRegisterFile && rows >= Vector128<float>.Count)
        {
            Blocks<SimdPair<Simd128, Vector128<float>>, VectorPair<Vector128<float>>, Simd128, Vector128<float>, TRows, TExtras>(
                ref query, ref keys, ref values, ref output, rows, position, valid, arguments.Mask, b, head, firstRow, in outputs);
            return;
        }

        if (Vector128.IsHardwareAccelerated && (TExtras.Enabled || rows >= Vector128<float>.Count / 2))
        {
            Blocks<Simd128, Vector128<float>, Simd128, Vector128<float>, TRows, TExtras>(ref query, ref keys, ref values, ref output, rows, position, valid, arguments.Mask, b, head, firstRow, in outputs);
            return;
        }

        Span<float> rowState = stackalloc float[StateSize];
        ref float state = ref MemoryMarshal.GetReference(rowState);
        for (int r = 0; r < rows; r++)
        {
            TKernel.VisibleRange(position + r, valid, out int firstKey, out int endKey);
            OnlineSoftmax.Reset(ref state, TKernel.ValueDim);
            int maskStart = HasExplicitMask ? arguments.Mask.GetRowStart(b, head, firstRow + r) : 0;
            RowKernel<TKernel>.Run(ref Unsafe.Add(ref query, (nint)r * QueryRowStride), ref keys, ref values, TRows.KeyStride, TRows.ValueStride, firstKey, endKey, arguments.Mask, maskStart, 0, ref state);
            OnlineSoftmax.Normalize(ref state, TKernel.ValueDim, ref Unsafe.Add(ref output, (nint)r * OutputRowStride));
            if (TExtras.Enabled)
            {
                ScalarRowOutputs<TRows>(ref Unsafe.Add(ref query, (nint)r * QueryRowStride), ref keys, firstKey, endKey, arguments.Mask, maskStart, outputs.Skip(r));
            }
        }
    }

    /// <summary>
    /// Without vector hardware, one row's weights and log-sum-exp, from its scores computed again key by key: the
    /// scores, the soft cap, the masks and the softmax as the row kernel applies them.
    /// </summary>
    private static void ScalarRowOutputs<TRows>(ref float query, ref float keys, int firstKey, int endKey, scoped in ExplicitMask mask, int maskStart, scoped in RowOutputs outputs)
        where TRows : struct, IKeyValueRows
    {
        int keyLength = outputs.KeyLength;
        Span<float> scores = KernelScratch.Get(keyLength);
        for (int j = 0; j < keyLength; j++)
        {
            ref float k = ref Unsafe.Add(ref keys, (nint)j * TRows.KeyStride);
            float score = 0;
            for (int d = 0; d < TKernel.HeadDim; d++)
            {
                score += Unsafe.Add(ref query, d) * TKernel.Scale * Unsafe.Add(ref k, d);
            }

            scores[j] = score;
        }

        WriteScalarWeights(scores, AttentionWeights.Scores, in outputs);
        if (TKernel.Softcap != 0)
        {
            for (int j = 0; j < keyLength; j++)
            {
                scores[j] = TKernel.Softcap * MathF.Tanh(scores[j] / TKernel.Softcap);
            }
        }

        WriteScalarWeights(scores, AttentionWeights.SoftcappedScores, in outputs);
        if (HasExplicitMask)
        {
            MaskedValues.ApplyExplicitMask(scores, 1, 0, keyLength, in mask, maskStart);
        }

        float maximum = float.NegativeInfinity;
        for (int j = 0; j < keyLength; j++)
        {
            if (j < firstKey || j >= endKey)
            {
                scores[j] = float.NegativeInfinity;
            }

            maximum = Math.Max(maximum, scores[j]);
        }

        WriteScalarWeights(scores, AttentionWeights.MaskedScores, in outputs);
        float shift = float.IsNegativeInfinity(maximum) ? 0 : maximum, sum = 0;
        for (int j = 0; j < keyLength; j++)
        {
            scores[j] = MathF.Exp(scores[j] - shift);
            sum += scores[j];
        }

        // The row's softmax, as a row block finishes it, with one "tile" of every key whose maximum is the row's.
        WriteScalarWeights(scores, AttentionWeights.Probabilities, in outputs);
        outputs.FinishRow<Simd128, Vector128<float>>(0, shift, sum, 0, keyLength, ref maximum, 0);
    }

    private static void WriteScalarWeights(ReadOnlySpan<float> scores, AttentionWeights kind, scoped in RowOutputs outputs)
    {
        if (outputs.WritesWeights && outputs.Kind == kind)
        {
            scores.CopyTo(MemoryMarshal.CreateSpan(ref outputs.Weights, outputs.KeyLength));
        }
    }

    /// <summary>The rows in row blocks of one width, as many lanes at a time as it has.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Blocks<TSimd, TVector, TPart, TPartVector, TRows, TExtras>(
        ref float query, ref float keys, ref float values, ref float output, int rows, long position, int valid,
        scoped in ExplicitMask mask, int b, int head, int firstRow, scoped in RowOutputs outputs)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TPart : struct, ISimd<TPartVector>
        where TPartVector : struct
        where TRows : struct, IKeyValueRows
        where TExtras : struct, IRowExtras
    {
        for (int r = 0; r < rows; r += TSimd.Count)
        {
            RowBlock<TKernel>.Run<TSimd, TVector, TPart, TPartVector, TRows, TExtras>(
                ref Unsafe.Add(ref query, (nint)r * QueryRowStride), ref keys, ref values, ref Unsafe.Add(ref output, (nint)r * OutputRowStride),
                Math.Min(TSimd.Count, rows - r), position + r, valid, in mask, b, head, firstRow + r, TExtras.Enabled ? outputs.Skip(r) : default);
        }
    }
}
