using System;
using System.Numerics.Tensors;
using System.Threading.Tasks;

namespace Benchmarks;

/// <summary>
/// Attention the way a .NET developer writes it today with TensorPrimitives: per query row, the scores with
/// TensorPrimitives.Dot one key at a time, a max-subtracted softmax, and P·V with TensorPrimitives.MultiplyAdd. Causal
/// rows stop at their last visible key. Head-major layout, like the generated kernels it is compared with.
/// </summary>
public static class UnfusedAttention
{
    [ThreadStatic]
    private static float[]? t_scores;

    public static void Forward(float[] query, float[] key, float[] value, float[] output, int heads, int length, int dim, bool causal, int threads)
    {
        float scale = 1f / MathF.Sqrt(dim);
        if (threads == 1)
        {
            for (int row = 0; row < heads * length; row++)
            {
                Row(query, key, value, output, row, length, dim, causal, scale);
            }
        }
        else
        {
            Parallel.For(0, heads * length, new ParallelOptions { MaxDegreeOfParallelism = threads },
                row => Row(query, key, value, output, row, length, dim, causal, scale));
        }
    }

    private static void Row(float[] query, float[] key, float[] value, float[] output, int row, int length, int dim, bool causal, float scale)
    {
        int head = row / length, i = row % length;
        int visible = causal ? i + 1 : length;
        float[] scoreBuffer = t_scores is { } buffer && buffer.Length >= length ? buffer : (t_scores = new float[length]);
        Span<float> scores = scoreBuffer.AsSpan(0, visible);
        ReadOnlySpan<float> q = query.AsSpan(row * dim, dim);
        for (int j = 0; j < visible; j++)
        {
            scores[j] = TensorPrimitives.Dot(q, key.AsSpan((head * length + j) * dim, dim)) * scale;
        }

        float max = TensorPrimitives.Max(scores);
        TensorPrimitives.Subtract(scores, max, scores);
        TensorPrimitives.Exp(scores, scores);
        float sum = TensorPrimitives.Sum(scores);

        Span<float> o = output.AsSpan(row * dim, dim);
        o.Clear();
        for (int j = 0; j < visible; j++)
        {
            TensorPrimitives.MultiplyAdd(value.AsSpan((head * length + j) * dim, dim), scores[j], o, o);
        }

        TensorPrimitives.Divide(o, sum, o);
    }
}
