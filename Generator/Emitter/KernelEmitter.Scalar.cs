using AttentionGen.Generator.Helpers;
using AttentionGen.Generator.Model;

namespace AttentionGen.Generator.Emitter;

internal static partial class KernelEmitter
{
    /// <summary>
    /// Writes the scalar row kernel, used when no vector width is accelerated (DOTNET_EnableHWIntrinsic=0, or a
    /// platform without SIMD). Same algorithm and tiling as the vector paths, one float at a time.
    /// </summary>
    private static void WriteScalarRow(SourceWriter writer, KernelConfiguration kernel)
    {
        writer.WriteLine("/// <summary>One query row, or a piece of one, one float at a time.</summary>");
        writer.OpenBlock($"private static void RowScalar({RowParameters(kernel)})");
        writer.WriteLine("// Scale the query once, so that each score is a plain dot product.");
        writer.WriteLine("Span<float> q = stackalloc float[HeadDim];");
        writer.OpenBlock("for (int d = 0; d < HeadDim; d++)");
        writer.WriteLine("q[d] = Unsafe.Add(ref query, d) * Scale;");
        writer.CloseBlock();
        writer.WriteLine();
        writer.WriteLine("// The row's online-softmax state, from where the last call left it: the output accumulator, the running maximum");
        writer.WriteLine("// and the running sum.");
        writer.WriteLine("Span<float> o = MemoryMarshal.CreateSpan(ref state, ValueDim);");
        writer.WriteLine("float rowMax = Unsafe.Add(ref state, ValueDim);");
        writer.WriteLine("float rowSum = Unsafe.Add(ref state, ValueDim + 1);");
        writer.WriteLine("Span<float> scores = stackalloc float[KeyTile];");
        writer.WriteLine();
        writer.OpenBlock("for (int tileStart = firstKey; tileStart < endKey; tileStart += KeyTile)");
        writer.WriteLine("int tileLength = Math.Min(KeyTile, endKey - tileStart);");
        writer.WriteLine();
        writer.WriteLine(kernel.HasSoftcap
            ? "// Scores: s_j = (scale · q) · k_j, soft-capped to c · tanh(s_j / c) before any mask. A scalar unit adds doubles\n// as fast as floats, so the dot product accumulates in double, as accurate as the vector paths' many partial sums."
            : "// Scores: s_j = (scale · q) · k_j. A scalar unit adds doubles as fast as floats, so the dot product accumulates\n// in double, as accurate as the vector paths' many partial sums.");
        writer.OpenBlock("for (int j = 0; j < tileLength; j++)");
        writer.WriteLine("ref float k = ref Unsafe.Add(ref keys, (tileStart + j) * keyStride);");
        writer.WriteLine("double dot = 0;");
        writer.OpenBlock("for (int d = 0; d < HeadDim; d++)");
        writer.WriteLine("dot += (double)q[d] * Unsafe.Add(ref k, d);");
        writer.CloseBlock();
        writer.WriteLine(kernel.HasSoftcap ? "scores[j] = Softcap * MathF.Tanh((float)dot / Softcap);" : "scores[j] = (float)dot;");
        writer.CloseBlock();
        if (kernel.HasExplicitMask)
        {
            writer.WriteLine();
            writer.WriteLine("MaskedValues.ApplyExplicitMask(scores, 1, maskKeyBase + tileStart, tileLength, in mask, maskStart);");
        }

        writer.WriteLine();
        writer.WriteLine("float tileMax = float.NegativeInfinity;");
        writer.OpenBlock("for (int j = 0; j < tileLength; j++)");
        writer.WriteLine("tileMax = MathF.Max(tileMax, scores[j]);");
        writer.CloseBlock();
        writer.OpenBlock("if (tileMax == float.NegativeInfinity)");
        writer.WriteLine("continue; // every key of the tile is masked: it adds nothing");
        writer.CloseBlock();
        writer.WriteLine();
        writer.WriteLine("// Online softmax: when the maximum grows, rescale the sum and the accumulator by exp(old max - new max).");
        writer.OpenBlock("if (tileMax > rowMax)");
        writer.WriteLine("float correction = MathF.Exp(rowMax - tileMax);");
        writer.WriteLine("rowMax = tileMax;");
        writer.WriteLine("rowSum *= correction;");
        writer.OpenBlock("for (int d = 0; d < ValueDim; d++)");
        writer.WriteLine("o[d] *= correction;");
        writer.CloseBlock();
        writer.CloseBlock();
        writer.WriteLine();
        writer.WriteLine("// p_j = exp(s_j - max); accumulate P·V: output += p_j · v_j.");
        writer.OpenBlock("for (int j = 0; j < tileLength; j++)");
        writer.WriteLine("float p = MathF.Exp(scores[j] - rowMax);");
        writer.OpenBlock("if (p == 0)");
        writer.WriteLine("continue; // a masked key, or one far below the maximum: it adds nothing, even to an infinite or NaN value");
        writer.CloseBlock();
        writer.WriteLine();
        writer.WriteLine("rowSum += p;");
        writer.WriteLine("ref float v = ref Unsafe.Add(ref values, (tileStart + j) * valueStride);");
        writer.OpenBlock("for (int d = 0; d < ValueDim; d++)");
        writer.WriteLine("o[d] += p * Unsafe.Add(ref v, d);");
        writer.CloseBlock();
        writer.CloseBlock();
        writer.CloseBlock();
        writer.WriteLine();
        writer.WriteLine("// Leave the state for the next piece of the row, or for OnlineSoftmax.Normalize (the accumulator is already in place).");
        writer.WriteLine("Unsafe.Add(ref state, ValueDim) = rowMax;");
        writer.WriteLine("Unsafe.Add(ref state, ValueDim + 1) = rowSum;");
        writer.CloseBlock();
    }
}
