using AttentionGen.Generator.Helpers;
using AttentionGen.Generator.Model;

namespace AttentionGen.Generator.Emitter;

internal static partial class KernelEmitter
{
    /// <summary>Independent partial sums per dot product, so consecutive fused multiply-adds do not wait on each other.</summary>
    private const int DotAccumulators = 4;

    /// <summary>
    /// Writes the row kernel for one vector width: the query and the output accumulators live in registers, the head
    /// dimensions are unrolled completely, and keys are processed in tiles with an online softmax.
    /// </summary>
    private static void WriteVectorRow(SourceWriter writer, KernelConfiguration kernel, KernelPlan plan, VectorPath path, bool half = false)
    {
        string v = path.Type;
        string width = Literals.Int(path.Bits);
        int lanes = path.Lanes;
        Chunks head = path.Head;
        Chunks value = path.Value;

        if (half)
        {
            writer.WriteLine("/// <summary>");
            writer.WriteLine($"/// One query row, or a piece of one, on {v}, over keys and values stored as finite halves (a Half KvCache), consecutive");
            writer.WriteLine($"/// rows HeadDim and ValueDim halves apart: {Literals.Int(head.Count)} vector{Plural(head.Count)} per query/key head, {Literals.Int(value.Count)} per value head. Each vector of halves is");
            writer.WriteLine("/// widened in registers by KernelMath.LoadHalfBits, which leaves out the factor 2^112 (KernelMath.HalfRebias); the query and");
            writer.WriteLine("/// each probability carry that factor instead, so the products are exact and nothing is widened into memory.");
            writer.WriteLine("/// </summary>");
            writer.OpenBlock($"private static void RowHalf{v}({RowHalfParameters(kernel)})");
        }
        else
        {
            writer.WriteLine($"/// <summary>One query row, or a piece of one, on {v}: {Literals.Int(head.Count)} vector{Plural(head.Count)} per query/key head, {Literals.Int(value.Count)} per value head.</summary>");
            writer.OpenBlock($"private static void {path.MethodName}({RowParameters(kernel)})");
        }

        int queryExponent = plan.QueryRebiasExponent;
        string scoreRebias = Literals.Float((float)System.Math.Pow(2, 112 - queryExponent));
        writer.WriteLine(!half
            ? "// Load the query row once, scaled, so that each score is a plain dot product."
            : queryExponent == 112
                ? "// Load the query row once, scaled by Scale · 2^112, so that each score is a plain dot product with the keys' bits."
                : $"// Load the query row once, scaled by Scale · 2^{Literals.Int(queryExponent)}, so that each score is a plain dot product with the keys' bits\n// times the rest of 2^112, {scoreRebias}: all of 2^112 in the query would overflow with this Scale.");
        if (head.Overlap > 0)
        {
            writer.WriteLine($"// The last vector starts at {Literals.Int(head.Offsets[head.Count - 1])} and overlaps the one before by {Literals.Int(head.Overlap)} lanes; those lanes are zeroed so they count once.");
        }

        writer.WriteLine(!half
            ? $"{v}<float> scale = {v}.Create(Scale);"
            : queryExponent == 112
                ? $"{v}<float> scale = {v}.Create(Scale * KernelMath.HalfRebias);"
                : $"{v}<float> scale = {v}.Create(Scale * {Literals.Float((float)System.Math.Pow(2, queryExponent))});");
        for (int c = 0; c < head.Count; c++)
        {
            string load = $"{v}.LoadUnsafe(ref query{Offset(head.Offsets[c])}) * scale";
            writer.WriteLine(c == head.Count - 1 && head.Overlap > 0
                ? $"{v}<float> q{c} = ({load}) & {v}.GreaterThanOrEqual({v}<int>.Indices, {v}.Create({Literals.Int(head.Overlap)})).AsSingle();"
                : $"{v}<float> q{c} = {load};");
        }

        writer.WriteLine();
        writer.WriteLine("// The row's online-softmax state, from where the last call left it: output accumulators, one per vector of the");
        writer.WriteLine("// value head, then the running maximum and sum.");
        for (int c = 0; c < value.Count; c++)
        {
            writer.WriteLine($"{v}<float> o{c} = {v}.LoadUnsafe(ref state{Offset(value.Offsets[c])});");
        }

        writer.WriteLine("float rowMax = Unsafe.Add(ref state, ValueDim);");
        writer.WriteLine("float rowSum = Unsafe.Add(ref state, ValueDim + 1);");
        writer.WriteLine("Span<float> scores = stackalloc float[KeyTile];");
        writer.WriteLine("ref float score = ref MemoryMarshal.GetReference(scores);");
        writer.WriteLine();

        writer.OpenBlock("for (int tileStart = firstKey; tileStart < endKey; tileStart += KeyTile)");
        writer.WriteLine("int tileLength = Math.Min(KeyTile, endKey - tileStart);");
        writer.WriteLine();

        int accumulators = System.Math.Min(head.Count, DotAccumulators);
        writer.WriteLine(accumulators == 1
            ? $"// Scores: s_j = (scale · q) · k_j, {Literals.Int(head.Count)} multiply{(head.Count == 1 ? string.Empty : "-adds")} and one horizontal sum per key."
            : $"// Scores: s_j = (scale · q) · k_j, {Literals.Int(head.Count)} multiply-adds over {Literals.Int(accumulators)} independent sums, then one horizontal sum per key.");
        writer.OpenBlock("for (int j = 0; j < tileLength; j++)");
        writer.WriteLine(half
            ? "ref ushort k = ref Unsafe.Add(ref keys, (nint)(tileStart + j) * HeadDim);"
            : "ref float k = ref Unsafe.Add(ref keys, (tileStart + j) * keyStride);");
        for (int c = 0; c < head.Count; c++)
        {
            string load = half ? $"KernelMath.LoadHalfBits{width}(ref k, {Literals.Int(head.Offsets[c])})" : $"{v}.LoadUnsafe(ref k{Offset(head.Offsets[c])})";
            writer.WriteLine(c < accumulators
                ? $"{v}<float> dot{c} = q{c} * {load};"
                : $"dot{c % accumulators} = {v}.MultiplyAddEstimate(q{c}, {load}, dot{c % accumulators});");
        }

        string total = accumulators switch
        {
            1 => "dot0",
            2 => "dot0 + dot1",
            3 => "(dot0 + dot1) + dot2",
            _ => "(dot0 + dot1) + (dot2 + dot3)",
        };
        writer.WriteLine(half && queryExponent != 112
            ? $"scores[j] = KernelMath.SumAcross({total}) * {scoreRebias};"
            : $"scores[j] = KernelMath.SumAcross({total});");
        writer.CloseBlock();

        if (kernel.HasSoftcap)
        {
            writer.WriteLine();
            writer.WriteLine("// Soft-cap before any mask: s = c · tanh(s / c).");
            writer.OpenBlock($"for (int j = 0; j < tileLength; j += {Literals.Int(lanes)})");
            writer.WriteLine($"KernelMath.SoftCap({v}.LoadUnsafe(ref score, (nuint)j), Softcap).StoreUnsafe(ref score, (nuint)j);");
            writer.CloseBlock();
        }

        if (kernel.HasExplicitMask)
        {
            writer.WriteLine();
            writer.WriteLine("MaskedValues.ApplyExplicitMask(scores, 1, maskKeyBase + tileStart, tileLength, in mask, maskStart);");
        }

        writer.WriteLine();
        writer.WriteLine("// Pad the tile to whole vectors with -infinity, which the maximum ignores and exp turns into 0.");
        writer.WriteLine($"int paddedLength = (tileLength + {Literals.Int(lanes - 1)}) & ~{Literals.Int(lanes - 1)};");
        writer.WriteLine("scores[tileLength..paddedLength].Fill(float.NegativeInfinity);");
        writer.WriteLine($"{v}<float> maxima = {v}.LoadUnsafe(ref score);");
        writer.OpenBlock($"for (int j = {Literals.Int(lanes)}; j < paddedLength; j += {Literals.Int(lanes)})");
        writer.WriteLine($"maxima = {v}.Max(maxima, {v}.LoadUnsafe(ref score, (nuint)j));");
        writer.CloseBlock();
        writer.WriteLine("float tileMax = KernelMath.MaxAcross(maxima);");
        writer.OpenBlock("if (tileMax == float.NegativeInfinity)");
        writer.WriteLine("continue; // every key of the tile is masked: it adds nothing");
        writer.CloseBlock();
        writer.WriteLine();

        writer.WriteLine("// Online softmax: when the maximum grows, rescale the sum and the accumulators by exp(old max - new max).");
        writer.OpenBlock("if (tileMax > rowMax)");
        writer.WriteLine("float correction = MathF.Exp(rowMax - tileMax);");
        writer.WriteLine("rowMax = tileMax;");
        writer.WriteLine("rowSum *= correction;");
        for (int c = 0; c < value.Count; c++)
        {
            writer.WriteLine($"o{c} *= correction;");
        }

        writer.CloseBlock();
        writer.WriteLine();

        writer.WriteLine("// Probabilities p_j = exp(s_j - max), written over the scores.");
        writer.WriteLine($"{v}<float> maximum = {v}.Create(rowMax);");
        writer.WriteLine($"{v}<float> tileSum = {v}<float>.Zero;");
        writer.OpenBlock($"for (int j = 0; j < paddedLength; j += {Literals.Int(lanes)})");
        writer.WriteLine($"{v}<float> p = KernelMath.Exp({v}.LoadUnsafe(ref score, (nuint)j) - maximum);");
        writer.WriteLine("p.StoreUnsafe(ref score, (nuint)j);");
        writer.WriteLine("tileSum += p;");
        writer.CloseBlock();
        writer.WriteLine($"rowSum += KernelMath.SumAcross(tileSum);");
        writer.WriteLine();

        writer.WriteLine(half ? "// Accumulate P·V: output += (p_j · 2^112) · (v_j's bits)." : "// Accumulate P·V: output += p_j · v_j.");
        writer.OpenBlock("for (int j = 0; j < tileLength; j++)");
        if (kernel.HasExplicitMask)
        {
            writer.OpenBlock("if (scores[j] == 0)");
            writer.WriteLine("continue; // a masked key: its weight adds nothing, even to an infinite or NaN value (0 · ∞ is NaN)");
            writer.CloseBlock();
            writer.WriteLine();
        }

        writer.WriteLine(half ? $"{v}<float> p = {v}.Create(scores[j] * KernelMath.HalfRebias);" : $"{v}<float> p = {v}.Create(scores[j]);");
        writer.WriteLine(half
            ? "ref ushort v = ref Unsafe.Add(ref values, (nint)(tileStart + j) * ValueDim);"
            : "ref float v = ref Unsafe.Add(ref values, (tileStart + j) * valueStride);");
        for (int c = 0; c < value.Count; c++)
        {
            string load = half ? $"KernelMath.LoadHalfBits{width}(ref v, {Literals.Int(value.Offsets[c])})" : $"{v}.LoadUnsafe(ref v{Offset(value.Offsets[c])})";
            writer.WriteLine($"o{c} = {v}.MultiplyAddEstimate(p, {load}, o{c});");
        }

        writer.CloseBlock();
        writer.CloseBlock();
        writer.WriteLine();

        writer.WriteLine("// Leave the state for the next piece of the row, or for OnlineSoftmax.Normalize.");
        if (value.Overlap > 0)
        {
            writer.WriteLine($"// The last vector overlaps the one before by {Literals.Int(value.Overlap)} lanes, which hold the same values in both, so the overlapping store is exact.");
        }

        for (int c = 0; c < value.Count; c++)
        {
            writer.WriteLine($"o{c}.StoreUnsafe(ref state{Offset(value.Offsets[c])});");
        }

        writer.WriteLine("Unsafe.Add(ref state, ValueDim) = rowMax;");
        writer.WriteLine("Unsafe.Add(ref state, ValueDim + 1) = rowSum;");
        writer.CloseBlock();
    }

    /// <summary>The element-offset argument of a load or store: nothing for 0, else <c>, N</c>.</summary>
    private static string Offset(int offset) => offset == 0 ? string.Empty : ", " + Literals.Int(offset);

    private static string Plural(int count) => count == 1 ? string.Empty : "s";
}
