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
        writer.WriteLine("/// <summary>One query row, one float at a time.</summary>");
        writer.OpenBlock($"private static void RowScalar({RowParameters(kernel)})");
        writer.WriteLine("// Scale the query once, so that each score is a plain dot product.");
        writer.WriteLine("Span<float> q = stackalloc float[HeadDim];");
        writer.OpenBlock("for (int d = 0; d < HeadDim; d++)");
        writer.WriteLine("q[d] = Unsafe.Add(ref query, d) * Scale;");
        writer.CloseBlock();
        writer.WriteLine();
        writer.WriteLine("// Output accumulator (stackalloc starts zeroed) and the row's online-softmax state.");
        writer.WriteLine("Span<float> o = stackalloc float[ValueDim];");
        writer.WriteLine("float rowMax = float.NegativeInfinity;");
        writer.WriteLine("float rowSum = 0f;");
        writer.WriteLine("Span<float> scores = stackalloc float[KeyTile];");
        writer.WriteLine();
        writer.OpenBlock("for (int tileStart = firstKey; tileStart < endKey; tileStart += KeyTile)");
        writer.WriteLine("int tileLength = Math.Min(KeyTile, endKey - tileStart);");
        writer.WriteLine();
        writer.WriteLine(kernel.HasSoftcap
            ? "// Scores: s_j = (scale · q) · k_j, soft-capped to c · tanh(s_j / c) before any mask. A scalar unit adds doubles\n// as fast as floats, so the dot product accumulates in double, as accurate as the vector paths' many partial sums."
            : "// Scores: s_j = (scale · q) · k_j. A scalar unit adds doubles as fast as floats, so the dot product accumulates\n// in double, as accurate as the vector paths' many partial sums.");
        writer.OpenBlock("for (int j = 0; j < tileLength; j++)");
        writer.WriteLine("ref float k = ref Unsafe.Add(ref keys, (nint)(tileStart + j) * KeyStride);");
        writer.WriteLine("double dot = 0;");
        writer.OpenBlock("for (int d = 0; d < HeadDim; d++)");
        writer.WriteLine("dot += (double)q[d] * Unsafe.Add(ref k, d);");
        writer.CloseBlock();
        writer.WriteLine(kernel.HasSoftcap ? "scores[j] = Softcap * MathF.Tanh((float)dot / Softcap);" : "scores[j] = (float)dot;");
        writer.CloseBlock();
        if (kernel.HasExplicitMask)
        {
            writer.WriteLine();
            writer.WriteLine("ApplyExplicitMask(scores, 1, tileStart, tileLength, in mask, maskStart);");
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
        writer.WriteLine("rowSum += p;");
        writer.WriteLine("ref float v = ref Unsafe.Add(ref values, (nint)(tileStart + j) * ValueStride);");
        writer.OpenBlock("for (int d = 0; d < ValueDim; d++)");
        writer.WriteLine("o[d] += p * Unsafe.Add(ref v, d);");
        writer.CloseBlock();
        writer.CloseBlock();
        writer.CloseBlock();
        writer.WriteLine();
        writer.WriteLine("// Normalize and store. A row that saw no key has rowSum = 0 and is written as zeros.");
        writer.WriteLine("float inverse = rowSum == 0f ? 0f : 1f / rowSum;");
        writer.OpenBlock("for (int d = 0; d < ValueDim; d++)");
        writer.WriteLine("Unsafe.Add(ref output, d) = o[d] * inverse;");
        writer.CloseBlock();
        writer.CloseBlock();
    }
}
