using AttentionGen.Generator.Helpers;
using AttentionGen.Generator.Model;

namespace AttentionGen.Generator.Emitter;

internal static partial class KernelEmitter
{
    /// <summary>Writes <c>CreateCache</c> and the <c>Forward</c> overload that reads keys and values from a <c>KvCache</c>.</summary>
    private static void WriteCachedSurface(SourceWriter writer, KernelModel model, KernelPlan plan)
    {
        KernelConfiguration kernel = model.Kernel;
        bool bshd = kernel.Layout == AttentionLayout.Bshd;
        string Shape(string sequence, string heads, string dim) =>
            bshd ? $"[batch, {sequence}, {heads}, {dim}]" : $"[batch, {heads}, {sequence}, {dim}]";

        writer.WriteLine("/// <summary>");
        writer.WriteLine("/// Creates an empty <see cref=\"global::AttentionGen.KvCache\"/> for this type: KvHeads key/value heads of HeadDim and ValueDim");
        writer.WriteLine("/// floats, <paramref name=\"capacity\"/> tokens per batch entry.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine("/// <param name=\"batch\">Batch entries, at least 1.</param>");
        writer.WriteLine("/// <param name=\"capacity\">Tokens each batch entry can hold, at least 1; appending more throws.</param>");
        writer.WriteLine("/// <param name=\"precision\">Single keeps values exactly; Half halves the memory and the bytes each decoding step reads.</param>");
        writer.WriteLine("/// <exception cref=\"global::System.ArgumentOutOfRangeException\">A size is less than 1, or the cache would not fit in one array.</exception>");
        writer.WriteLine(GeneratedCodeAttribute);
        writer.WriteLine("public static global::AttentionGen.KvCache CreateCache(int batch, int capacity, global::AttentionGen.KvCachePrecision precision = global::AttentionGen.KvCachePrecision.Single) =>");
        writer.WriteLine("    new(batch, KvHeads, HeadDim, ValueDim, capacity, precision);");
        if (kernel.HasWindow)
        {
            writer.WriteLine();
            writer.WriteLine("/// <summary>");
            writer.WriteLine("/// Creates an empty <see cref=\"global::AttentionGen.KvCache\"/> for this type with the given overflow behaviour: with");
            writer.WriteLine("/// <see cref=\"global::AttentionGen.KvCacheOverflow.EvictOldest\"/>, a ring that keeps the last <paramref name=\"capacity\"/> tokens,");
            writer.WriteLine($"/// which needs to be at least WindowLeft ({Literals.Int(kernel.WindowLeft)}) plus the query rows of one call.");
            writer.WriteLine("/// </summary>");
            writer.WriteLine("/// <param name=\"batch\">Batch entries, at least 1.</param>");
            writer.WriteLine("/// <param name=\"capacity\">Tokens each batch entry can hold, at least 1.</param>");
            writer.WriteLine("/// <param name=\"precision\">Single keeps values exactly; Half halves the memory and the bytes each decoding step reads.</param>");
            writer.WriteLine("/// <param name=\"overflow\">What an append that does not fit does.</param>");
            writer.WriteLine("/// <exception cref=\"global::System.ArgumentOutOfRangeException\">A size is less than 1, or the cache would not fit in one array.</exception>");
            writer.WriteLine(GeneratedCodeAttribute);
            writer.WriteLine("public static global::AttentionGen.KvCache CreateCache(int batch, int capacity, global::AttentionGen.KvCachePrecision precision, global::AttentionGen.KvCacheOverflow overflow) =>");
            writer.WriteLine("    new(batch, KvHeads, HeadDim, ValueDim, capacity, precision, overflow);");
        }

        writer.WriteLine();
        writer.WriteLine($"/// <summary>Computes {Describe(kernel)} for the newest tokens of each sequence in a KV cache.</summary>");
        writer.WriteLine($"/// <param name=\"query\">Queries of each entry's newest <paramref name=\"queryLength\"/> tokens, <c>{Shape("queryLength", "Heads", "HeadDim")}</c>. Append those tokens' keys and values to the cache first.</param>");
        writer.WriteLine("/// <param name=\"cache\">The keys and values of every token so far, from <see cref=\"CreateCache(int, int, global::AttentionGen.KvCachePrecision)\"/> or any cache with this type's dims.</param>");
        writer.WriteLine($"/// <param name=\"output\">Receives the result, <c>{Shape("queryLength", "Heads", "ValueDim")}</c>.</param>");
        writer.WriteLine("/// <param name=\"batch\">Batch size: the cache's <c>Batch</c>.</param>");
        writer.WriteLine("/// <param name=\"queryLength\">");
        writer.WriteLine("/// Query rows per batch entry and head: 1 to decode a token. Row <c>i</c> of entry <c>b</c> is cache token");
        writer.WriteLine("/// <c>cache.GetLength(b) - queryLength + i</c>, so positional masks align bottom-right with each entry's own length.");
        writer.WriteLine("/// </param>");
        if (kernel.HasExplicitMask)
        {
            writer.WriteLine("/// <param name=\"mask\">The explicit mask, additive or boolean, broadcast to <c>[batch, Heads, queryLength, cache.Length]</c>; its key axis counts the cached tokens oldest first.</param>");
        }

        writer.WriteLine("/// <exception cref=\"global::System.ArgumentNullException\"><paramref name=\"cache\"/> is null.</exception>");
        writer.WriteLine("/// <exception cref=\"global::System.ArgumentOutOfRangeException\">A length is negative, or <paramref name=\"queryLength\"/> is more than an entry of the cache holds.</exception>");
        writer.WriteLine("/// <exception cref=\"global::System.ArgumentException\">The cache's dims or batch differ from this type's, a span is shorter than its shape"
            + (kernel.HasExplicitMask ? ", the mask does not broadcast to the shape" : string.Empty)
            + ", <paramref name=\"output\"/> overlaps <paramref name=\"query\"/> other than exactly (in place), or a ring cache has evicted keys the queries see. Nothing has been written.</exception>");
        writer.WriteLine("/// <remarks>");
        writer.WriteLine("/// A prefill (many query rows) over a cache of floats runs on the same row-block kernels as the other Forward, reading the");
        writer.WriteLine("/// cache in place. Decoding reads each (batch entry, key/value head) once for all the query rows that share it; when those");
        writer.WriteLine("/// pairs are too few to keep every thread busy, as for one sequence, the keys are split across threads and the partial");
        writer.WriteLine("/// softmax states merged exactly. A Half cache is widened to float inside the kernel.");
        writer.WriteLine("/// </remarks>");
        writer.WriteLine(GeneratedCodeAttribute);
        writer.OpenBlock(
            "public static void Forward(global::System.ReadOnlySpan<float> query, global::AttentionGen.KvCache cache, global::System.Span<float> output, int batch, int queryLength"
            + (kernel.HasExplicitMask ? ", global::AttentionGen.ExplicitMask mask" : string.Empty) + ")");
        writer.WriteLine($"global::AttentionGen.CompilerServices.AttentionArguments arguments = new(query, cache, output, batch, queryLength, {(kernel.HasExplicitMask ? "mask" : "default")});");
        writer.WriteLine("global::AttentionGen.CompilerServices.AttentionValidation.ValidateCachedForward(");
        writer.WriteLine($"    Heads, KvHeads, HeadDim, ValueDim, {MaskExpression(kernel.Mask)}, global::AttentionGen.AttentionLayout.{kernel.Layout}, windowLeft: {(kernel.HasWindow ? Literals.Int(kernel.WindowLeft) : "-1")}, in arguments);");
        writer.WriteLine($"global::AttentionGen.CompilerServices.AttentionScheduler.RunCached<global::AttentionGen.Generated.{KernelName(model.Type)}>(");
        writer.WriteLine($"    in arguments, Heads, KvHeads, HeadDim, ValueDim, global::AttentionGen.AttentionLayout.{kernel.Layout}, rowsPerItem: {Literals.Int(KernelPlan.CachedRowsPerItem)}, rowsPerBlock: {Literals.Int(KernelPlan.RowsPerItem)});");
        writer.CloseBlock();
    }

    /// <summary>
    /// Writes <c>ExecuteCachedTiled</c>: a prefill over a cache, on the row-block kernels of an ordinary Forward, reading
    /// the cache's slots in place or a per-thread staged copy of a head.
    /// </summary>
    private static void WriteExecuteCachedTiled(SourceWriter writer, KernelConfiguration kernel)
    {
        bool bshd = kernel.Layout == AttentionLayout.Bshd;
        writer.WriteLine("/// <summary>");
        writer.WriteLine("/// Runs work items [start, end) of a Forward over a KvCache with many query rows (a prefill): the same items and row-block");
        writer.WriteLine("/// kernels as a Forward over tensors, reading keys and values as consecutive rows (CacheRows): in place from a cache of");
        writer.WriteLine("/// floats, from a staged copy of the head for halves or a wrapped ring. Each entry's queries align with the end of its tokens.");
        writer.WriteLine("/// </summary>");
        writer.OpenBlock("private static void ExecuteCachedTiled(scoped in AttentionArguments arguments, int start, int end)");
        writer.WriteLine("KvCache cache = arguments.Cache!;");
        writer.WriteLine("bool half = cache.Precision == KvCachePrecision.Half;");
        writer.WriteLine("int queryLength = arguments.QueryLength;");
        writer.WriteLine("int queryBlocks = (queryLength + RowsPerItem - 1) / RowsPerItem;");
        writer.WriteLine("ref float query = ref MemoryMarshal.GetReference(arguments.Query);");
        writer.WriteLine("ref float output = ref MemoryMarshal.GetReference(arguments.Output);");
        if (kernel.HasExplicitMask)
        {
            writer.WriteLine("ExplicitMask mask = arguments.Mask;");
        }

        writer.WriteLine();
        writer.OpenBlock("for (int item = start; item < end; item++)");
        writer.WriteLine("// Work item -> (batch entry, key/value head, query block, query head of the group), as in Execute.");
        WriteBlockItem(writer);
        writer.WriteLine("KvCacheSegments segments = KvCacheAccess.GetSegments(cache, b);");
        writer.WriteLine("int valid = segments.Length;");
        writer.WriteLine("long offset = (long)valid - queryLength; // bottom-right: the last query row is the newest token");
        writer.WriteLine("ref float keys = ref Unsafe.NullRef<float>();");
        writer.WriteLine("ref float values = ref Unsafe.NullRef<float>();");
        writer.OpenBlock("if (half || segments.FirstLength != valid)");
        writer.WriteLine("// Halves, or a ring whose tokens wrap around: a copy of this head as consecutive floats, made once per thread");
        writer.WriteLine("// and reused by its next items on the same head.");
        writer.WriteLine("ReadOnlySpan<float> staged = KvCacheAccess.Stage(cache, b, kvHead);");
        writer.WriteLine("keys = ref MemoryMarshal.GetReference(staged);");
        writer.WriteLine("values = ref Unsafe.Add(ref keys, (nint)valid * HeadDim);");
        writer.CloseBlock();
        writer.OpenBlock("else");
        writer.WriteLine("keys = ref KvCacheAccess.SingleKey(cache, b, kvHead, segments.FirstSlot);");
        writer.WriteLine("values = ref KvCacheAccess.SingleValue(cache, b, kvHead, segments.FirstSlot);");
        writer.CloseBlock();
        writer.WriteLine();
        writer.WriteLine(bshd
            ? "nint row = ((nint)b * queryLength + firstRow) * Heads + head;"
            : "nint row = ((nint)b * Heads + head) * queryLength + firstRow;");
        writer.WriteLine($"Rows<CacheRows>(ref Unsafe.Add(ref query, row * HeadDim), ref keys, ref values, ref Unsafe.Add(ref output, row * ValueDim), rows, firstRow + offset, valid{(kernel.HasExplicitMask ? ", in mask, b, head, firstRow" : string.Empty)});");
        writer.CloseBlock();
        writer.CloseBlock();
    }

    /// <summary>Writes <c>ExecuteCached</c>, the work loop of a <c>Forward</c> call over a <c>KvCache</c>.</summary>
    private static void WriteExecuteCached(SourceWriter writer, KernelConfiguration kernel, KernelPlan plan)
    {
        bool direct = plan.Paths.Count > 0;
        bool bshd = kernel.Layout == AttentionLayout.Bshd;
        writer.WriteLine("/// <summary>");
        writer.WriteLine("/// Runs work items [start, end) of a Forward over a KvCache. An item is a chunk of up to CachedRowsPerItem of the rows");
        writer.WriteLine("/// that read one (batch entry, key/value head), GroupSize query heads times queryLength positions, against one of");
        writer.WriteLine("/// arguments.Splits ranges of its keys. Each tile of CacheTile keys is read once for all those rows: in place when the");
        writer.WriteLine("/// cache stores floats, widened into scratch first when it stores halves.");
        writer.WriteLine("/// </summary>");
        writer.OpenBlock("private static void ExecuteCached(scoped in AttentionArguments arguments, int start, int end)");
        writer.WriteLine("KvCache cache = arguments.Cache!;");
        writer.WriteLine("bool half = cache.Precision == KvCachePrecision.Half;");
        writer.WriteLine("int queryLength = arguments.QueryLength;");
        writer.WriteLine("int rowsPerHead = GroupSize * queryLength;");
        writer.WriteLine("int chunks = (rowsPerHead + CachedRowsPerItem - 1) / CachedRowsPerItem;");
        writer.WriteLine("int splits = arguments.Splits;");
        writer.WriteLine("ref float query = ref MemoryMarshal.GetReference(arguments.Query);");
        writer.WriteLine("ref float output = ref MemoryMarshal.GetReference(arguments.Output);");
        if (kernel.HasExplicitMask)
        {
            writer.WriteLine("ExplicitMask mask = arguments.Mask;");
        }

        writer.WriteLine();
        writer.WriteLine("// Scratch: each row's softmax state (see OnlineSoftmax), then a tile of keys and one of values widened from Half.");
        writer.WriteLine("Span<float> scratch = KernelScratch.Get(CachedRowsPerItem * StateSize + CacheTile * (HeadDim + ValueDim));");
        writer.WriteLine("ref float states = ref MemoryMarshal.GetReference(scratch);");
        writer.WriteLine("ref float wideKeys = ref Unsafe.Add(ref states, CachedRowsPerItem * StateSize);");
        writer.WriteLine("ref float wideValues = ref Unsafe.Add(ref wideKeys, CacheTile * HeadDim);");
        writer.WriteLine();
        writer.OpenBlock("for (int item = start; item < end; item++)");
        writer.WriteLine("// Work item -> (batch entry, key/value head, row chunk, split), the split varying fastest.");
        writer.WriteLine("int split = item % splits;");
        writer.WriteLine("int chunk = item / splits % chunks;");
        writer.WriteLine("int kvHead = item / splits / chunks % KvHeads;");
        writer.WriteLine("int b = item / splits / chunks / KvHeads;");
        writer.WriteLine("KvCacheSegments segments = KvCacheAccess.GetSegments(cache, b);");
        writer.WriteLine("int length = segments.Length;");
        writer.WriteLine("int firstRow = chunk * CachedRowsPerItem;");
        writer.WriteLine("int rows = Math.Min(CachedRowsPerItem, rowsPerHead - firstRow);");
        if (direct)
        {
            writer.WriteLine();
            writer.WriteLine("// Up to DirectRows rows over a Half cache (finite values only) read the halves where they are and widen them in");
            writer.WriteLine("// registers (RowHalf), each row on its own. More rows share each tile widened into scratch once.");
            writer.WriteLine($"bool direct = half && rows <= DirectRows && {plan.Paths[plan.Paths.Count - 1].Type}.IsHardwareAccelerated;");
        }

        writer.WriteLine();
        writer.WriteLine("// Row firstRow + r is query position i = (firstRow + r) % queryLength of group member (firstRow + r) / queryLength,");
        writer.WriteLine("// and sits at cache token length - queryLength + i: the last row is the newest token. This split takes an equal");
        writer.WriteLine("// share of the keys that any of the rows sees.");
        writer.WriteLine("int unionFirst = int.MaxValue, unionEnd = 0;");
        writer.OpenBlock("for (int r = 0; r < rows; r++)");
        writer.WriteLine("OnlineSoftmax.Reset(ref Unsafe.Add(ref states, r * StateSize), ValueDim);");
        writer.WriteLine("VisibleRange((long)length - queryLength + (firstRow + r) % queryLength, length, out int firstKey, out int endKey);");
        writer.OpenBlock("if (firstKey < endKey)");
        writer.WriteLine("unionFirst = Math.Min(unionFirst, firstKey);");
        writer.WriteLine("unionEnd = Math.Max(unionEnd, endKey);");
        writer.CloseBlock();
        writer.CloseBlock();
        writer.WriteLine();
        writer.WriteLine("int share = unionFirst < unionEnd ? (unionEnd - unionFirst + splits - 1) / splits : 0;");
        writer.WriteLine("int keyStart = Math.Min(unionEnd, unionFirst + split * share);");
        writer.WriteLine("int keyEnd = Math.Min(unionEnd, keyStart + share);");
        writer.OpenBlock("for (int tileStart = keyStart, count; tileStart < keyEnd; tileStart += count)");
        if (direct)
        {
            writer.WriteLine("// A tile stops where a ring wraps around, so its slots are consecutive. Halves widened into scratch come CacheTile");
            writer.WriteLine("// keys at a time; floats, and halves read in place, KeyTile keys at a time, which stay in L2 while every row of the");
            writer.WriteLine("// group reads them: memory is read once per key/value head.");
            writer.WriteLine("count = segments.Run(tileStart, Math.Min(half && !direct ? CacheTile : KeyTile, keyEnd - tileStart));");
        }
        else
        {
            writer.WriteLine("// A tile stops where a ring wraps around, so its slots are consecutive. Halves widened into scratch come CacheTile");
            writer.WriteLine("// keys at a time, floats KeyTile keys at a time.");
            writer.WriteLine("count = segments.Run(tileStart, Math.Min(half ? CacheTile : KeyTile, keyEnd - tileStart));");
        }

        writer.WriteLine("int slot = segments.Slot(tileStart);");
        writer.WriteLine("ref float keys = ref wideKeys;");
        writer.WriteLine("ref float values = ref wideValues;");
        if (direct)
        {
            writer.WriteLine("ref ushort halfKeys = ref Unsafe.NullRef<ushort>();");
            writer.WriteLine("ref ushort halfValues = ref Unsafe.NullRef<ushort>();");
            writer.OpenBlock("if (direct)");
            writer.WriteLine("halfKeys = ref KvCacheAccess.HalfKey(cache, b, kvHead, slot);");
            writer.WriteLine("halfValues = ref KvCacheAccess.HalfValue(cache, b, kvHead, slot);");
            writer.CloseBlock();
            writer.OpenBlock("else if (half)");
        }
        else
        {
            writer.OpenBlock("if (half)");
        }

        writer.WriteLine("KvCacheAccess.WidenKeys(cache, b, kvHead, slot, count, ref wideKeys);");
        writer.WriteLine("KvCacheAccess.WidenValues(cache, b, kvHead, slot, count, ref wideValues);");
        writer.CloseBlock();
        writer.OpenBlock("else");
        writer.WriteLine("keys = ref KvCacheAccess.SingleKey(cache, b, kvHead, slot);");
        writer.WriteLine("values = ref KvCacheAccess.SingleValue(cache, b, kvHead, slot);");
        writer.CloseBlock();
        writer.WriteLine();
        writer.OpenBlock("for (int r = 0; r < rows; r++)");
        writer.WriteLine("int i = (firstRow + r) % queryLength;");
        writer.WriteLine("VisibleRange((long)length - queryLength + i - tileStart, count, out int firstKey, out int endKey);");
        writer.OpenBlock("if (firstKey < endKey)");
        writer.WriteLine("int head = kvHead * GroupSize + (firstRow + r) / queryLength;");
        writer.WriteLine(bshd
            ? "nint queryRow = ((nint)b * queryLength + i) * Heads + head;"
            : "nint queryRow = ((nint)b * Heads + head) * queryLength + i;");
        string maskArguments = kernel.HasExplicitMask ? ", in mask, mask.GetRowStart(b, head, i), tileStart" : string.Empty;
        writer.WriteLine("ref float state = ref Unsafe.Add(ref states, r * StateSize);");
        string row = $"Row(ref Unsafe.Add(ref query, queryRow * HeadDim), ref keys, ref values, HeadDim, ValueDim, firstKey, endKey{maskArguments}, ref state);";
        if (direct)
        {
            writer.OpenBlock("if (direct)");
            writer.WriteLine($"RowHalf(ref Unsafe.Add(ref query, queryRow * HeadDim), ref halfKeys, ref halfValues, firstKey, endKey{maskArguments}, ref state);");
            writer.CloseBlock();
            writer.OpenBlock("else");
            writer.WriteLine(row);
            writer.CloseBlock();
        }
        else
        {
            writer.WriteLine(row);
        }
        writer.CloseBlock();
        writer.CloseBlock();
        writer.CloseBlock();
        writer.WriteLine();
        writer.WriteLine("// Normalize into the output, or, when the keys were split, leave this split's partial states for the scheduler to merge.");
        writer.OpenBlock("for (int r = 0; r < rows; r++)");
        writer.WriteLine("ref float state = ref Unsafe.Add(ref states, r * StateSize);");
        writer.OpenBlock("if (splits == 1)");
        writer.WriteLine("int i = (firstRow + r) % queryLength;");
        writer.WriteLine("int head = kvHead * GroupSize + (firstRow + r) / queryLength;");
        writer.WriteLine(bshd
            ? "nint outputRow = ((nint)b * queryLength + i) * Heads + head;"
            : "nint outputRow = ((nint)b * Heads + head) * queryLength + i;");
        writer.WriteLine("OnlineSoftmax.Normalize(ref state, ValueDim, ref Unsafe.Add(ref output, outputRow * ValueDim));");
        writer.CloseBlock();
        writer.OpenBlock("else");
        writer.WriteLine("int index = ((b * KvHeads + kvHead) * rowsPerHead + firstRow + r) * splits + split;");
        writer.WriteLine("MemoryMarshal.CreateReadOnlySpan(ref state, StateSize).CopyTo(arguments.Partials.Slice(index * StateSize, StateSize));");
        writer.CloseBlock();
        writer.CloseBlock();
        writer.CloseBlock();
        writer.CloseBlock();
    }
}
