using AttentionGen.Generator.Helpers;
using AttentionGen.Generator.Model;

namespace AttentionGen.Generator.Emitter;

internal static partial class KernelEmitter
{
    /// <summary>
    /// Writes the row-block kernel of one width: a block of query rows, one per lane, against tiles of keys. Keeping rows
    /// in lanes makes both matrix products broadcast-and-FMA register blocks with no horizontal sums, and makes the
    /// online softmax purely element-wise.
    /// </summary>
    private static void WriteBlock(SourceWriter writer, KernelConfiguration kernel, KernelPlan plan, BlockPath path)
    {
        string v = path.Type;
        string l = Literals.Int(path.Lanes);
        string c = Literals.Int(path.KeyChunk);
        bool positional = kernel.IsCausal || kernel.HasWindow;

        writer.WriteLine("/// <summary>");
        writer.WriteLine($"/// Up to {l} query rows at once on {v}, one row per lane. Per tile of keys: Q·Kᵀ as {c}-key register blocks,");
        writer.WriteLine("/// the online softmax lane by lane, and P·V accumulated into the block's output, which lives transposed in scratch.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine("[MethodImpl(MethodImplOptions.AggressiveOptimization)]");
        writer.OpenBlock($"private static void {path.BlockName}<TRows>({BlockParameters(kernel)})\n    where TRows : struct, IKeyValueRows");
        string packed = plan.PackKeys ? $", and {c} packed key rows [{c}][HeadDim]" : string.Empty;
        string packedSize = plan.PackKeys ? $" + {c} * HeadDim" : string.Empty;
        writer.WriteLine($"// Scratch: the scaled queries transposed [HeadDim][{l}], one tile of scores or probabilities [KeyTile][{l}], the");
        writer.WriteLine($"// output accumulators [ValueDim][{l}]{packed}.");
        if (plan.PackKeys)
        {
            writer.WriteLine("// Where key rows lie a multiple of 4 KiB apart (TRows.PackKeys), a register block's keys would all compete for one");
            writer.WriteLine("// L1 cache set, so each block's keys are copied into consecutive rows first.");
        }

        writer.WriteLine($"Span<float> scratch = KernelScratch.Get((HeadDim + KeyTile + ValueDim) * {l}{packedSize});");
        writer.WriteLine("ref float qT = ref MemoryMarshal.GetReference(scratch);");
        writer.WriteLine($"ref float sT = ref Unsafe.Add(ref qT, HeadDim * {l});");
        writer.WriteLine($"ref float oT = ref Unsafe.Add(ref sT, KeyTile * {l});");
        if (plan.PackKeys)
        {
            writer.WriteLine($"ref float packedKeys = ref Unsafe.Add(ref oT, ValueDim * {l});");
        }

        writer.WriteLine($"scratch.Slice((HeadDim + KeyTile) * {l}, ValueDim * {l}).Clear();");
        writer.WriteLine();
        writer.WriteLine("// Transpose the rows into lanes, scaled, and find each row's visible keys. Lanes past the last row repeat it;");
        writer.WriteLine("// their results are never stored.");
        writer.WriteLine($"Span<int> firstKeys = stackalloc int[{l}];");
        writer.WriteLine($"Span<int> endKeys = stackalloc int[{l}];");
        if (kernel.HasExplicitMask)
        {
            writer.WriteLine($"Span<int> maskStarts = stackalloc int[{l}];");
        }

        writer.WriteLine("int unionFirst = int.MaxValue, unionEnd = 0, sharedFirst = 0, sharedEnd = int.MaxValue;");
        writer.OpenBlock($"for (int r = 0; r < {l}; r++)");
        writer.WriteLine("int source = Math.Min(r, rows - 1);");
        writer.WriteLine("ref float q = ref Unsafe.Add(ref query, (nint)source * QueryRowStride);");
        writer.OpenBlock("for (int d = 0; d < HeadDim; d++)");
        writer.WriteLine($"Unsafe.Add(ref qT, d * {l} + r) = Unsafe.Add(ref q, d) * Scale;");
        writer.CloseBlock();
        writer.WriteLine();
        writer.WriteLine("VisibleRange(position + source, valid, out int firstKey, out int endKey);");
        writer.WriteLine("firstKeys[r] = firstKey;");
        writer.WriteLine("endKeys[r] = endKey;");
        if (kernel.HasExplicitMask)
        {
            writer.WriteLine("maskStarts[r] = mask.GetRowStart(b, head, firstRow + source);");
        }

        writer.WriteLine("sharedFirst = Math.Max(sharedFirst, firstKey);");
        writer.WriteLine("sharedEnd = Math.Min(sharedEnd, endKey);");
        writer.OpenBlock("if (firstKey < endKey)");
        writer.WriteLine("unionFirst = Math.Min(unionFirst, firstKey);");
        writer.WriteLine("unionEnd = Math.Max(unionEnd, endKey);");
        writer.CloseBlock();
        writer.CloseBlock();
        writer.WriteLine();
        if (positional)
        {
            writer.WriteLine($"{v}<int> first = {v}.LoadUnsafe(ref MemoryMarshal.GetReference(firstKeys));");
            writer.WriteLine($"{v}<int> end = {v}.LoadUnsafe(ref MemoryMarshal.GetReference(endKeys));");
        }

        writer.WriteLine($"{v}<float> rowMax = {v}.Create(float.NegativeInfinity);");
        writer.WriteLine($"{v}<float> rowSum = {v}<float>.Zero;");
        writer.WriteLine();
        writer.WriteLine("// Walk the keys that any row sees; keys no row sees are never read.");
        writer.OpenBlock("for (int tileStart = unionFirst; tileStart < unionEnd; tileStart += KeyTile)");
        writer.WriteLine("int count = Math.Min(KeyTile, unionEnd - tileStart);");
        writer.WriteLine();
        writer.WriteLine($"// Scores: s = (scale · q) · k for every row and key of the tile, {c} keys per register block.");
        writer.WriteLine("int c = 0;");
        writer.OpenBlock($"for (; c + {c} <= count; c += {c})");
        if (plan.PackKeys)
        {
            writer.OpenBlock("if (TRows.PackKeys)");
            writer.WriteLine($"KernelMath.CopyRows(ref Unsafe.Add(ref keys, (nint)(tileStart + c) * TRows.KeyStride), TRows.KeyStride, ref packedKeys, {c}, HeadDim);");
            writer.WriteLine($"{path.ScoreKeysName}<TRows>(ref qT, ref packedKeys, ref Unsafe.Add(ref sT, c * {l}));");
            writer.CloseBlock();
            writer.OpenBlock("else");
            writer.WriteLine($"{path.ScoreKeysName}<TRows>(ref qT, ref Unsafe.Add(ref keys, (nint)(tileStart + c) * TRows.KeyStride), ref Unsafe.Add(ref sT, c * {l}));");
            writer.CloseBlock();
        }
        else
        {
            writer.WriteLine($"{path.ScoreKeysName}<TRows>(ref qT, ref Unsafe.Add(ref keys, (nint)(tileStart + c) * TRows.KeyStride), ref Unsafe.Add(ref sT, c * {l}));");
        }

        writer.CloseBlock();
        writer.OpenBlock("for (; c < count; c++)");
        writer.WriteLine($"{path.ScoreKeyName}(ref qT, ref Unsafe.Add(ref keys, (nint)(tileStart + c) * TRows.KeyStride), ref Unsafe.Add(ref sT, c * {l}));");
        writer.CloseBlock();

        if (kernel.HasSoftcap)
        {
            writer.WriteLine();
            writer.WriteLine("// Soft-cap before any mask: s = c · tanh(s / c).");
            writer.OpenBlock("for (c = 0; c < count; c++)");
            writer.WriteLine($"KernelMath.SoftCap({v}.LoadUnsafe(ref sT, (nuint)(c * {l})), Softcap).StoreUnsafe(ref sT, (nuint)(c * {l}));");
            writer.CloseBlock();
        }

        bool partialTiles = positional || kernel.HasExplicitMask;
        if (partialTiles)
        {
            writer.WriteLine();
            writer.WriteLine("// Whether some row of the block does not see some key of this tile, whose weight is then 0 in that lane, and the");
            writer.WriteLine("// keys every row sees, [seenFirst, seenEnd).");
            writer.WriteLine("bool partial = false;");
            writer.WriteLine("int seenFirst = sharedFirst, seenEnd = sharedEnd;");
        }

        if (kernel.HasExplicitMask)
        {
            writer.WriteLine();
            writer.WriteLine($"// The explicit mask, row by row: lane r's scores lie every {l} floats from element r. A key it hides may be any key.");
            writer.OpenBlock($"for (int r = 0; r < {l}; r++)");
            writer.OpenBlock($"if (ApplyExplicitMask(scratch.Slice(HeadDim * {l} + r), {l}, tileStart, count, in mask, maskStarts[r]))");
            writer.WriteLine("partial = true;");
            writer.WriteLine("seenEnd = seenFirst;");
            writer.CloseBlock();
            writer.CloseBlock();
        }

        if (positional)
        {
            writer.WriteLine();
            writer.WriteLine("// Where the rows' visible ranges differ inside this tile (the causal diagonal, window edges), keys outside a");
            writer.WriteLine("// row's own range get -infinity in its lane. Tiles that every row sees whole skip this.");
            writer.OpenBlock("if (tileStart < sharedFirst || tileStart + count > sharedEnd)");
            writer.WriteLine("partial = true;");
            writer.OpenBlock("for (c = 0; c < count; c++)");
            writer.WriteLine($"{v}<int> keyIndex = {v}.Create(tileStart + c);");
            writer.WriteLine($"{v}<float> visible = ({v}.GreaterThanOrEqual(keyIndex, first) & {v}.LessThan(keyIndex, end)).AsSingle();");
            writer.WriteLine($"{v}.ConditionalSelect(visible, {v}.LoadUnsafe(ref sT, (nuint)(c * {l})), {v}.Create(float.NegativeInfinity)).StoreUnsafe(ref sT, (nuint)(c * {l}));");
            writer.CloseBlock();
            writer.CloseBlock();
        }

        writer.WriteLine();
        writer.WriteLine("// Online softmax, lane by lane: the tile's maximum, the running maximum, and the factor exp(old − new) by which");
        writer.WriteLine("// the running sum and the accumulators shrink when it grows (exactly 1 when it does not).");
        writer.WriteLine($"{v}<float> tileMax = {v}.LoadUnsafe(ref sT);");
        writer.OpenBlock("for (c = 1; c < count; c++)");
        writer.WriteLine($"tileMax = {v}.MaxNative(tileMax, {v}.LoadUnsafe(ref sT, (nuint)(c * {l})));");
        writer.CloseBlock();
        writer.WriteLine($"{v}<float> newMax = {v}.MaxNative(rowMax, tileMax);");
        writer.WriteLine("// A lane that has seen only masked keys still has a maximum of -infinity; exp is taken against 0 there, so its");
        writer.WriteLine("// probabilities are 0 rather than NaN.");
        writer.WriteLine($"{v}<float> shift = {v}.ConditionalSelect({v}.Equals(newMax, {v}.Create(float.NegativeInfinity)), {v}<float>.Zero, newMax);");
        writer.WriteLine($"{v}<float> correction = KernelMath.Exp(rowMax - shift);");
        writer.WriteLine("rowMax = newMax;");
        writer.WriteLine();
        writer.WriteLine("// Probabilities p = exp(s - max), written over the scores.");
        writer.WriteLine($"{v}<float> tileSum = {v}<float>.Zero;");
        writer.OpenBlock("for (c = 0; c < count; c++)");
        writer.WriteLine($"{v}<float> p = KernelMath.Exp({v}.LoadUnsafe(ref sT, (nuint)(c * {l})) - shift);");
        writer.WriteLine($"p.StoreUnsafe(ref sT, (nuint)(c * {l}));");
        writer.WriteLine("tileSum += p;");
        writer.CloseBlock();
        writer.WriteLine($"rowSum = {v}.MultiplyAddEstimate(rowSum, correction, tileSum);");
        writer.WriteLine();
        writer.WriteLine("// P·V: rescale the accumulators if some row's maximum moved (the factor is exactly 1 in every lane otherwise),");
        writer.WriteLine("// and add this tile's probabilities times its values.");
        writer.WriteLine($"bool rescale = !{v}.EqualsAll(correction, {v}<float>.One);");
        writer.WriteLine("ref float tileValues = ref Unsafe.Add(ref values, (nint)tileStart * TRows.ValueStride);");
        if (partialTiles)
        {
            writer.WriteLine("// A weight of 0 must add nothing, but 0 · ∞ is NaN: where a value of a key some row does not see is infinite or NaN");
            writer.WriteLine("// (rare, and checked only on such tiles, only for those keys), add only the weights that are not 0.");
            writer.OpenBlock("if (partial && MaskedValues.AnyNonFinite(ref values, TRows.ValueStride, ValueDim, tileStart, tileStart + count, seenFirst, seenEnd))");
            writer.WriteLine($"{path.AccumulateName}<TRows>(ref sT, 0, ref tileValues, ref oT, rescale, correction);");
            writer.WriteLine($"MaskedValues.AccumulateNonZero(ref sT, {l}, count, ref tileValues, TRows.ValueStride, ValueDim, ref oT);");
            writer.CloseBlock();
            writer.OpenBlock("else");
            writer.WriteLine($"{path.AccumulateName}<TRows>(ref sT, count, ref tileValues, ref oT, rescale, correction);");
            writer.CloseBlock();
        }
        else
        {
            writer.WriteLine($"{path.AccumulateName}<TRows>(ref sT, count, ref tileValues, ref oT, rescale, correction);");
        }

        writer.CloseBlock();
        writer.WriteLine();

        writer.WriteLine("// Normalize and transpose the lanes back into output rows. A row that saw no key has rowSum = 0 and is");
        writer.WriteLine("// written as zeros.");
        writer.WriteLine($"Span<float> inverses = stackalloc float[{l}];");
        writer.WriteLine($"{v}.ConditionalSelect({v}.Equals(rowSum, {v}<float>.Zero), {v}<float>.Zero, {v}<float>.One / rowSum).StoreUnsafe(ref MemoryMarshal.GetReference(inverses));");
        writer.OpenBlock("for (int r = 0; r < rows; r++)");
        writer.WriteLine("ref float o = ref Unsafe.Add(ref output, (nint)r * OutputRowStride);");
        writer.WriteLine("float inverse = inverses[r];");
        writer.OpenBlock("for (int dv = 0; dv < ValueDim; dv++)");
        writer.WriteLine($"Unsafe.Add(ref o, dv) = Unsafe.Add(ref oT, dv * {l} + r) * inverse;");
        writer.CloseBlock();
        writer.CloseBlock();
        writer.CloseBlock();

        writer.WriteLine();
        WriteScoreKeys(writer, plan, path);
        writer.WriteLine();
        WriteScoreKey(writer, kernel, path);
        writer.WriteLine();
        WriteAccumulate(writer, kernel, path);
    }

    private static string BlockParameters(KernelConfiguration kernel) =>
        "ref float query, ref float keys, ref float values, ref float output, int rows, long position, int valid"
        + (kernel.HasExplicitMask ? ", scoped in ExplicitMask mask, int b, int head, int firstRow" : string.Empty);

    private static string BlockArguments(KernelConfiguration kernel, string query, string output, string rows, string position, string firstRow) =>
        $"ref {query}, ref keys, ref values, ref {output}, {rows}, {position}, valid"
        + (kernel.HasExplicitMask ? $", in mask, b, head, {firstRow}" : string.Empty);

    /// <summary>The Q·Kᵀ register block: one accumulator per key, each holding that key's score for every row (lane).</summary>
    private static void WriteScoreKeys(SourceWriter writer, KernelPlan plan, BlockPath path)
    {
        string stride = "stride";
        string v = path.Type;
        string l = Literals.Int(path.Lanes);
        writer.WriteLine("/// <summary>");
        writer.WriteLine($"/// Scores {Literals.Int(path.KeyChunk)} keys against the block's rows: {Literals.Int(path.KeyChunk)} accumulators, one per key, each a {v} of rows.");
        writer.WriteLine("/// Each step loads one query element for every row and multiplies it by the same element of each key, broadcast.");
        writer.WriteLine(plan.PackKeys
            ? "/// The keys are consecutive rows of HeadDim floats when TRows packs them, else rows TRows.KeyStride floats apart."
            : "/// The keys are rows TRows.KeyStride floats apart, read where they are.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
        writer.OpenBlock($"private static void {path.ScoreKeysName}<TRows>(ref float qT, ref float k, ref float sT)\n    where TRows : struct, IKeyValueRows");
        writer.WriteLine(plan.PackKeys
            ? "const int packedStride = HeadDim;\nint stride = TRows.PackKeys ? packedStride : TRows.KeyStride; // a JIT-time constant"
            : "int stride = TRows.KeyStride; // a JIT-time constant");
        for (int key = 0; key < path.KeyChunk; key++)
        {
            writer.WriteLine($"{v}<float> s{key} = {v}<float>.Zero;");
        }

        writer.OpenBlock("for (int d = 0; d < HeadDim; d++)");
        writer.WriteLine($"{v}<float> q = {v}.LoadUnsafe(ref qT, (nuint)(d * {l}));");
        for (int key = 0; key < path.KeyChunk; key++)
        {
            string offset = key == 0 ? "d" : key == 1 ? $"d + {stride}" : $"d + {Literals.Int(key)} * {stride}";
            writer.WriteLine($"s{key} = {v}.MultiplyAddEstimate(q, {v}.Create(Unsafe.Add(ref k, {offset})), s{key});");
        }

        writer.CloseBlock();
        for (int key = 0; key < path.KeyChunk; key++)
        {
            writer.WriteLine(key == 0 ? $"s{key}.StoreUnsafe(ref sT);" : $"s{key}.StoreUnsafe(ref sT, {Literals.Int(key * path.Lanes)});");
        }

        writer.CloseBlock();
    }

    /// <summary>One key against the block's rows, for the keys left after the last whole register block of a tile.</summary>
    private static void WriteScoreKey(SourceWriter writer, KernelConfiguration kernel, BlockPath path)
    {
        string v = path.Type;
        string l = Literals.Int(path.Lanes);
        int chains = System.Math.Min(4, kernel.HeadDim);
        int whole = kernel.HeadDim / chains * chains;
        writer.WriteLine($"/// <summary>Scores one key against the block's rows, in {Literals.Int(chains)} independent chains of fused multiply-adds.</summary>");
        writer.WriteLine("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
        writer.OpenBlock($"private static void {path.ScoreKeyName}(ref float qT, ref float k, ref float sT)");
        for (int chain = 0; chain < chains; chain++)
        {
            writer.WriteLine($"{v}<float> s{chain} = {v}<float>.Zero;");
        }

        writer.OpenBlock($"for (int d = 0; d < {Literals.Int(whole)}; d += {Literals.Int(chains)})");
        for (int chain = 0; chain < chains; chain++)
        {
            string d = chain == 0 ? "d" : $"d + {Literals.Int(chain)}";
            writer.WriteLine($"s{chain} = {v}.MultiplyAddEstimate({v}.LoadUnsafe(ref qT, (nuint)(({d}) * {l})), {v}.Create(Unsafe.Add(ref k, {d})), s{chain});");
        }

        writer.CloseBlock();
        for (int d = whole; d < kernel.HeadDim; d++)
        {
            writer.WriteLine($"s0 = {v}.MultiplyAddEstimate({v}.LoadUnsafe(ref qT, {Literals.Int(d * path.Lanes)}), {v}.Create(Unsafe.Add(ref k, {Literals.Int(d)})), s0);");
        }

        writer.WriteLine(chains switch
        {
            1 => "s0.StoreUnsafe(ref sT);",
            2 => "(s0 + s1).StoreUnsafe(ref sT);",
            3 => "((s0 + s1) + s2).StoreUnsafe(ref sT);",
            _ => "((s0 + s1) + (s2 + s3)).StoreUnsafe(ref sT);",
        });
        writer.CloseBlock();
    }

    /// <summary>
    /// The P·V register block: one accumulator per value element, each holding that element of the output for every
    /// row (lane), walked over the tile's keys.
    /// </summary>
    private static void WriteAccumulate(SourceWriter writer, KernelConfiguration kernel, BlockPath path)
    {
        string v = path.Type;
        int chunk = path.KeyChunk;
        int whole = kernel.ValueDim / chunk;
        int remainder = kernel.ValueDim % chunk;
        writer.WriteLine("/// <summary>");
        writer.WriteLine("/// Rescales the block's output accumulators by <paramref name=\"correction\"/> when <paramref name=\"rescale\"/> is set,");
        writer.WriteLine($"/// and adds P·V for <paramref name=\"count\"/> keys, {Literals.Int(chunk)} value elements at a time: {Literals.Int(chunk)} accumulators, each one");
        writer.WriteLine("/// value element across the block's rows.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
        writer.OpenBlock($"private static void {path.AccumulateName}<TRows>(ref float pT, int count, ref float v, ref float oT, bool rescale, {v}<float> correction)\n    where TRows : struct, IKeyValueRows");
        if (whole > 0)
        {
            writer.OpenBlock($"for (int dv = 0; dv < {Literals.Int(whole * chunk)}; dv += {Literals.Int(chunk)})");
            WriteAccumulateChunk(writer, path, chunk, "dv");
            writer.CloseBlock();
        }

        if (remainder > 0)
        {
            if (whole > 0)
            {
                writer.WriteLine();
                writer.WriteLine($"// The last {Literals.Int(remainder)} value elements.");
            }

            writer.OpenBlock(string.Empty);
            WriteAccumulateChunk(writer, path, remainder, Literals.Int(whole * chunk));
            writer.CloseBlock();
        }

        writer.CloseBlock();
    }

    private static void WriteAccumulateChunk(SourceWriter writer, BlockPath path, int size, string start)
    {
        string v = path.Type;
        string l = Literals.Int(path.Lanes);
        writer.WriteLine($"ref float o = ref Unsafe.Add(ref oT, {start} * {l});");
        for (int j = 0; j < size; j++)
        {
            writer.WriteLine(j == 0
                ? $"{v}<float> a0 = {v}.LoadUnsafe(ref o);"
                : $"{v}<float> a{j} = {v}.LoadUnsafe(ref o, {Literals.Int(j * path.Lanes)});");
        }

        writer.OpenBlock("if (rescale)");
        for (int j = 0; j < size; j++)
        {
            writer.WriteLine($"a{j} *= correction;");
        }

        writer.CloseBlock();

        writer.WriteLine($"ref float vRow = ref Unsafe.Add(ref v, {start});");
        writer.OpenBlock("for (int c = 0; c < count; c++)");
        writer.WriteLine($"{v}<float> p = {v}.LoadUnsafe(ref pT, (nuint)(c * {l}));");
        for (int j = 0; j < size; j++)
        {
            writer.WriteLine($"a{j} = {v}.MultiplyAddEstimate(p, {v}.Create(Unsafe.Add(ref vRow, {Literals.Int(j)})), a{j});");
        }

        writer.WriteLine("vRow = ref Unsafe.Add(ref vRow, TRows.ValueStride);");
        writer.CloseBlock();
        for (int j = 0; j < size; j++)
        {
            writer.WriteLine(j == 0 ? "a0.StoreUnsafe(ref o);" : $"a{j}.StoreUnsafe(ref o, {Literals.Int(j * path.Lanes)});");
        }
    }
}
